"""The shapes a call's files take on the way: found by the walk, then sent or skipped."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mcp_server.core import threads
from mcp_server.core.config import Limits
from mcp_server.core.errors import InputError
from mcp_server.policy.access import FileAccess
from mcp_server.policy.opening import Opener
from mcp_server.policy.places import Places
from mcp_server.policy.scan import Scanner


@dataclass(frozen=True)
class Found:
    """A file the walk found, not read yet."""

    label: str  # its path relative to the common root, "/"-separated: what DeepSeek and the result call it
    real: str  # the real path that is read
    size: int
    named: bool  # given in `files` itself: a secret there is refused, not skipped
    identity: tuple[int, int]  # (device, inode): one file reached by two paths is sent once


@dataclass(frozen=True)
class Sent:
    path: str
    bytes: int
    tokens: int
    block: str  # the file as DeepSeek receives it (render.file_block)


@dataclass(frozen=True)
class Skip:
    path: str
    reason: str
    secret: bool = False  # skipped because it holds, or is named like, a secret


@dataclass(frozen=True)
class Gathered:
    """What one call sends ahead of its prompt, and what it left out."""

    sent: tuple[Sent, ...]
    skipped: tuple[Skip, ...]
    text: str  # the block that goes before the prompt
    tokens: int

    def largest(self, count: int = 5) -> str:
        """The biggest files sent, for a message asking the caller to send less."""
        biggest = sorted(self.sent, key=lambda f: f.tokens, reverse=True)[:count]
        return ", ".join(f"{f.path} (~{f.tokens:,} tokens)" for f in biggest)


@dataclass
class Job:
    """One call's gathering: the policy, the bounds, and a stop flag set when the call is cancelled."""

    base_dir: Path
    files: FileAccess
    limits: Limits
    budget: int  # tokens the files may take (DEEPSEEK_MCP_MAX_CONTEXT_TOKENS)
    scanner: Scanner
    places: Places  # where nothing is read (policy.secret_places)
    stop: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=lambda: time.monotonic())  # looked up when made, as elapsed() does
    # What the call had waited for worker threads when the job began: time spent waiting after that is not spent
    # from the job's own clock (core/threads.py).
    waited_at: float = field(default_factory=threads.waited)
    # The (device, inode) of the files the walk skipped as secret by name (.env): another name for one of them, a
    # hard link, is refused like a symlink to it. `more_secrets` gives those of the rest of the folder, when the walk
    # covered only part of it (investigate reads one path at a time).
    secret_ids: set[tuple[int, int]] = field(default_factory=set)
    more_secrets: Callable[[], frozenset[tuple[int, int]]] | None = None
    _opener: Opener | None = field(default=None, repr=False)

    def open_file(self, real: str) -> int:
        """A descriptor for exactly the file at `real`, opened as policy.opening says (raises OSError)."""
        if self._opener is None:
            self._opener = Opener(self.places)
        return self._opener.open(real)

    def named_secret(self, identity: tuple[int, int]) -> bool:
        """Whether a file of this identity was skipped as secret by name under another name (a hard link to it)."""
        return identity in self.secret_ids or (self.more_secrets is not None and identity in self.more_secrets())

    def close(self) -> None:
        """Release the folder descriptor kept between reads (also released when the job is collected)."""
        if self._opener is not None:
            self._opener.close()

    def check_time(self) -> None:
        """Stop a walk that has run past its time, or whose call was cancelled."""
        if self.stop.is_set():
            raise InputError("the call was cancelled while its files were read")
        if self.elapsed() > self.limits.context_seconds:
            raise OutOfTime(
                f"walking and reading the files took more than {self.limits.context_seconds:g} s (the bound for "
                "one call); pass narrower paths: a subfolder, or the files themselves"
            )

    def elapsed(self) -> float:
        """Seconds of the job's own work: since it began, less what its call has waited for threads since."""
        return time.monotonic() - self.started - (threads.waited() - self.waited_at)


class OutOfTime(InputError):
    """A job that ran past its time bound (limits.context_seconds)."""
