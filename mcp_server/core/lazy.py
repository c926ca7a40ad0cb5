"""Names a package re-exports on first use rather than on import: a server starting, or a worker process, does not
pay for modules its first call does not need (docs/benchmarks.md, start-up)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def exports(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """The package's module `__getattr__`: each name in `homes` is imported from its module (`homes[name]`, a
    submodule of `package`) when first asked for, then kept in the package like an ordinary re-export."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
