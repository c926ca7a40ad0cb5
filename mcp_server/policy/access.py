"""Which local files a caller may have the server read: one policy for every tool and for argument completion.

With `DEEPSEEK_MCP_FILE_ROOTS` set, only paths inside those folders are read, after resolving symlinks (a link
inside a root that points out of it is refused, and so is `..`). Over HTTP the callers are remote, so without the
variable no local path is read at all. Over stdio, unset keeps the server able to read what its user can.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from mcp_server.core.config import FILE_ROOTS_ENV, Settings
from mcp_server.core.errors import InputError
from mcp_server.core.quoting import clip


@dataclass(frozen=True)
class FileAccess:
    roots: tuple[Path, ...] | None
    remote: bool  # serving HTTP: every caller is someone else

    @classmethod
    def of(cls, settings: Settings) -> FileAccess:
        return cls(settings.file_roots, settings.serves_http)

    @property
    def enabled(self) -> bool:
        """Whether any local path may be read at all."""
        return self.roots is not None or not self.remote

    def refusal(self, shown: str) -> InputError:
        if self.roots is None:
            return InputError(
                f"{clip(shown)}: this server is serving HTTP, where local files are read only inside "
                f"{FILE_ROOTS_ENV}; set it to the folders callers may read (separated by {os.pathsep!r}), or pass "
                "the content itself"
            )
        shown_roots = os.pathsep.join(str(root) for root in self.roots)
        return InputError(f"{clip(shown)} is outside {FILE_ROOTS_ENV} ({clip(shown_roots)}); pass a path inside it")

    def resolve(self, path: Path) -> Path:
        """The real path behind `path` if it may be read; raises InputError otherwise (runs in a worker thread).

        A path that does not exist is returned as given when there are no roots, so the reader reports it; inside
        roots it must exist, since only an existing path can be resolved and checked.
        """
        if not self.enabled:
            raise self.refusal(str(path))
        if self.roots is None:
            return path
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError, ValueError):
            raise self._missing_or_outside(path) from None
        if not self.inside(real):
            raise self.refusal(str(path))
        return real

    def inside(self, real: Path) -> bool:
        """Whether a resolved path lies in a root (always true without roots, when reading is enabled)."""
        if self.roots is None:
            return self.enabled
        return any(real == root or real.is_relative_to(root) for root in self.roots)

    def check_open(self, fd: int, path: Path) -> None:
        """After opening: the file really opened must lie inside the roots, whatever was swapped in meanwhile."""
        if self.roots is None:
            return
        with contextlib.suppress(OSError):  # no /proc (not Linux): the resolve() check stands alone
            real = Path(os.readlink(f"/proc/self/fd/{fd}"))
            if not self.inside(real):
                raise self.refusal(str(path))

    def _missing_or_outside(self, path: Path) -> InputError:
        # Say "does not exist" only inside the roots: outside them, existence is not the caller's business.
        parent = path.parent
        with contextlib.suppress(OSError, RuntimeError, ValueError):
            if self.inside(parent.resolve(strict=True)):
                return InputError(f"{clip(str(path))} does not exist; check the path")
        return self.refusal(str(path))
