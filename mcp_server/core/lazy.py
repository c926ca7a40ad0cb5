"""Names a package re-exports on first use rather than on import: a server starting, or a worker process, does not
pay for modules its first call does not need (docs/benchmarks.md, issue 28).

    exports(__name__, {"gather": "gather", "Job": "model"})   # at the end of a package's __init__.py
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Mapping
from typing import Any


class _Package(types.ModuleType):
    """A package with lazy re-exports. Importing a submodule sets the package's attribute of that name to the module:
    where a name is re-exported from a submodule of the same name (context's `gather`), the re-export still wins, as
    it did when the package imported it eagerly (so `import mcp_server.context.gather as m` gives the function: take
    that module's names with `from mcp_server.context.gather import ...`)."""

    def __getattribute__(self, name: str) -> Any:
        value = super().__getattribute__(name)
        if isinstance(value, types.ModuleType) and not name.startswith("__"):
            homes = super().__getattribute__("__dict__").get("_lazy_homes", {})
            if homes.get(name) == name:
                return getattr(value, name)
        return value


def exports(package: str, homes: Mapping[str, str]) -> None:
    """Make each name in `homes` an attribute of `package` imported from its module (`homes[name]`, a submodule of
    `package`) when first asked for, then kept in the package like an ordinary re-export."""
    module = sys.modules[package]

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        if home != name:  # a same-named submodule's attribute is the module: _Package resolves it on each use
            setattr(module, name, value)
        return value

    module.__dict__["__getattr__"] = __getattr__
    module.__dict__["_lazy_homes"] = dict(homes)
    module.__class__ = _Package
