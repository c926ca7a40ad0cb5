"""Running the `git` binary on a repository the caller names, without running anything the repository configures.

A repository's own config (`.git/config`, its includes, `config.worktree`) is written by whoever made the folder,
so every setting in it that names a program is switched off on the command line: `core.fsmonitor` (run on every
read of the index), `filter.<name>.clean/smudge/process` for each driver the repository defines (run when a
working-tree file is compared), `diff.external` and `diff.<name>.command` (`--no-ext-diff`), textconv
(`--no-textconv`), the pager, hooks (`core.hooksPath=/dev/null`; `post-index-change` runs when the index is
written, and `GIT_OPTIONAL_LOCKS=0` keeps it from being written at all), and every transport (`protocol.allow=never`:
a partial clone would fetch missing objects through `core.sshCommand`). The user's global and system config are
the user's own and stay in force (their git-lfs filter, their diff algorithm).

Every run is bounded: the bytes read from its output (the process is killed past them) and the seconds it may take.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import anyio
import anyio.abc

from mcp_server.core.errors import InputError
from mcp_server.core.quoting import clip, format_size

# Settings that run programs or change what a read-only diff prints, fixed for every run.
_FIXED = (
    "core.fsmonitor=false",
    "core.hooksPath=/dev/null",
    "core.pager=cat",
    "core.quotePath=false",
    "diff.external=",
    "diff.noprefix=false",
    "diff.relative=false",
    "color.ui=never",
    "log.showSignature=false",
    "protocol.allow=never",
    "submodule.recurse=false",
)
# Per driver name: what a repository may define under filter.<name> and diff.<name> that runs a program.
_DRIVER_KEYS = {"filter": ("clean", "smudge", "process"), "diff": ("textconv", "command")}
_TRUSTED_SCOPES = ("global", "system", "command")
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class Bounds:
    out_bytes: int
    seconds: float


class GitError(Exception):
    """git exited non-zero; `stderr` holds what it said (clipped)."""

    def __init__(self, args: Sequence[str], code: int, stderr: str) -> None:
        super().__init__(f"git {args[0] if args else ''} exited {code}: {stderr}")
        self.code = code
        self.stderr = stderr


class Git:
    """One repository (its work tree's top folder, or any folder inside it before `top` is known)."""

    def __init__(self, folder: str, bounds: Bounds, program: str = "git") -> None:
        self.folder = folder
        self.bounds = bounds
        self.program = program
        self._overrides: tuple[str, ...] = ()

    async def disarm(self) -> None:
        """Find every program-running driver the repository's own config defines, and blank each one."""
        out = await self.run(["config", "--list", "--show-scope", "-z"], checked=False)
        self._overrides = overrides(out.decode("utf-8", "replace"))

    async def run(
        self,
        args: Sequence[str],
        *,
        stdin: bytes | None = None,
        out_bytes: int | None = None,
        checked: bool = True,
    ) -> bytes:
        """git's stdout; GitError when it fails, InputError when it passes a bound (and is killed)."""
        limit = out_bytes or self.bounds.out_bytes
        command = [self.program, "--no-pager", "--literal-pathspecs", *_config_args(self._overrides), *args]
        try:
            with anyio.fail_after(self.bounds.seconds):
                code, out, err = await _collect(command, self.folder, stdin, limit)
        except TimeoutError:
            raise InputError(
                f"git {args[0]} took more than {self.bounds.seconds:g} s (the bound for reading the repository); "
                "pass a narrower base, or review a smaller change"
            ) from None
        except FileNotFoundError:
            raise InputError("the `git` program was not found on PATH; install git to use review") from None
        if out is None:
            raise Overflow(args[0], limit)
        if checked and code != 0:
            raise GitError(args, code, err[:MAX_ERROR_CHARS].decode("utf-8", "replace").strip())
        return out


class Overflow(InputError):
    """git printed more than its bound."""

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(
            f"git {what} printed more than {format_size(limit)} (the bound on the diff); pass a narrower base or "
            "review a smaller change"
        )


def overrides(listing: str) -> tuple[str, ...]:
    """`-c` values that blank every filter and diff driver defined outside the user's own (global, system) config.

    `listing` is `git config --list --show-scope -z`: records of "scope\\0key\\nvalue\\0".
    """
    fields = listing.split("\0")
    found: dict[str, None] = {}
    for scope, entry in zip(fields[::2], fields[1::2], strict=False):
        key = entry.partition("\n")[0]
        section, _, rest = key.partition(".")
        name, _, _ = rest.rpartition(".")  # the subsection keeps its case: `filter.Evil` is not `filter.evil`
        section = section.lower()
        if scope in _TRUSTED_SCOPES or section not in _DRIVER_KEYS or not name:
            continue
        for setting in _DRIVER_KEYS[section]:
            found[f"{section}.{name}.{setting}="] = None
        if section == "filter":
            found[f"filter.{name}.required=false"] = None
    return tuple(found)


def _config_args(extra: tuple[str, ...]) -> list[str]:
    return [arg for setting in (*_FIXED, *extra) for arg in ("-c", setting)]


def child_env(inherited: dict[str, str]) -> dict[str, str]:
    """The environment git runs in: ours without any GIT_* variable (GIT_DIR, GIT_EXTERNAL_DIFF, GIT_PAGER... would
    point it elsewhere or run a program), never prompting, never writing the index."""
    env = {name: value for name, value in inherited.items() if not name.startswith("GIT_")}
    env.update(
        GIT_OPTIONAL_LOCKS="0",
        GIT_TERMINAL_PROMPT="0",
        GIT_NO_LAZY_FETCH="1",
        GIT_NO_REPLACE_OBJECTS="1",
        GIT_PAGER="cat",
        PAGER="cat",
        LC_ALL="C",
    )
    return env


# The child's environment is fixed when the module loads: it is the process's own environment (what git would
# inherit anyway), not a setting of this server.
_ENV = child_env(dict(os.environ))


async def _collect(command: list[str], folder: str, stdin: bytes | None, limit: int) -> tuple[int, bytes | None, bytes]:
    """(exit code, stdout or None past `limit`, the start of stderr); the process is killed on every way out."""
    process = await anyio.open_process(command, cwd=folder, env=_ENV, start_new_session=True)
    try:
        async with anyio.create_task_group() as tg:
            if process.stdin is not None:
                tg.start_soon(_feed, process.stdin, stdin or b"")
            err_chunks: list[bytes] = []
            assert process.stderr is not None
            tg.start_soon(_drain, process.stderr, err_chunks, MAX_ERROR_CHARS)
            assert process.stdout is not None
            out = await _read(process.stdout, limit)
            if out is None:
                process.kill()
            code = await process.wait()
        return code, out, b"".join(err_chunks)
    finally:
        if process.returncode is None:
            process.kill()
            with anyio.CancelScope(shield=True):
                await process.wait()


async def _feed(stream: anyio.abc.ByteSendStream, data: bytes) -> None:
    try:
        if data:
            await stream.send(data)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, BrokenPipeError):
        pass  # git stopped reading (it failed, or was killed past a bound): its exit says why
    finally:
        await stream.aclose()


async def _drain(stream: anyio.abc.ByteReceiveStream, chunks: list[bytes], keep: int) -> None:
    kept = 0
    async for chunk in stream:
        if kept < keep:
            chunks.append(chunk[: keep - kept])
            kept += len(chunks[-1])


async def _read(stream: anyio.abc.ByteReceiveStream, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def describe(error: GitError) -> str:
    """git's own words, clipped, for a message."""
    return clip(error.stderr.replace("fatal: ", "").strip() or f"exit code {error.code}", 300)
