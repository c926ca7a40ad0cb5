"""The MCP Bundle's entry point: the host runs this file with uv in the unpacked bundle, and it is `deepseek-mcp`.

The package's own `mcp_server/__main__.py` cannot be the entry point: run as a file, it is not part of its package,
and its folder comes first on sys.path, where a module of the package could shadow any other of the same name.
"""

import sys

from mcp_server.__main__ import main

sys.exit(main())
