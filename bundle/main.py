"""The MCP Bundle's entry point: the host runs this file with uv in the unpacked bundle, and it is `deepseek-mcp`.

The package's own `mcp_server/__main__.py` cannot be the entry point: run as a file, its folder would come first on
sys.path and `mcp_server/http.py` would shadow the standard library's `http`.
"""

import sys

from mcp_server.__main__ import main

sys.exit(main())
