"""Running the `git` binary on a repository the caller names, so that nothing the repository names is ever run.

A repository's own config (`.git/config`, `config.worktree`, whatever they include) is written by whoever made the
folder, and a good part of git's config names programs: filter drivers (`clean`, `smudge`, `process`), diff drivers
(`textconv`, `command`), `diff.external`, merge drivers, `core.fsmonitor`, hooks, the pager, the editor, credential
helpers, signature programs, transports (`ext::`, `core.sshCommand`, `remote.*.uploadpack`). Overriding them one
by one fails (git splits `-c filter.x=y.clean=` at its first `=`, so a driver called `x=y` stays armed). Instead
review runs only plumbing that never reaches for any of them, and never lets git near a work-tree file:

- `rev-parse`, `merge-base`, `ls-tree`, `cat-file --batch` / `--batch-check` (no `--filters`, no `--textconv`),
  `diff-tree` between two trees (`--raw`, and `-p` with `--no-ext-diff --no-textconv`), `hash-object --stdin`
  (no path, so no filter), `ls-files` for the index and the untracked names, and `config --get-regexp` for
  core.filemode and core.autocrlf. These read objects, refs and the
  index; filters run only when git reads a work-tree file, textconv and external diffs only where asked for, and
  no hook runs on a read. The work tree itself is read by the server (worktree.py), never by git.
- Reading the index runs `core.fsmonitor`: `-c core.fsmonitor=false` (one plain key, no subsection to misspell).
- A partial clone fetches a missing object through its promisor remote, and the repository's own
  `protocol.<name>.allow` outranks a `-c protocol.allow=never`: `GIT_ALLOW_PROTOCOL` (set empty) outranks every
  config, so no transport at all is allowed (`GIT_NO_LAZY_FETCH=1` too, for git 2.44 and later).
- No `GIT_*` variable is inherited; `GIT_OPTIONAL_LOCKS=0` (the index is never written); `--no-pager`.
- Only the subcommands above may run (`Git.run` refuses any other).

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

# Plain keys, fixed for every run: reading the index would run the fsmonitor; the rest are belts and braces for
# commands that never consult them (hooks, transports, colour in what is parsed).
_FIXED = (
    "core.fsmonitor=false",
    "core.useBuiltinFSMonitor=false",
    "core.hooksPath=/dev/null",
    "protocol.allow=never",
    "color.ui=never",
    "core.quotePath=false",
)
# The plumbing review runs (see above); nothing else reaches git.
PLUMBING = frozenset(
    {"rev-parse", "merge-base", "ls-tree", "ls-files", "cat-file", "diff-tree", "hash-object", "config"}
)
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

    def __init__(self, folder: str, bounds: Bounds, program: str = "git", env: dict[str, str] | None = None) -> None:
        self.folder = folder
        self.bounds = bounds
        self.program = program
        self.env = env or _ENV

    def reading(self, store: str, objects: str) -> Git:
        """The same repository with the object store `store` (the server's own, written by worktree.py) in front of
        its own (`objects`, which git then reads as an alternate, with its own alternates)."""
        extra = {"GIT_OBJECT_DIRECTORY": store, "GIT_ALTERNATE_OBJECT_DIRECTORIES": quoted(objects)}
        return Git(self.folder, self.bounds, self.program, _ENV | extra)

    async def run(
        self,
        args: Sequence[str],
        *,
        stdin: bytes | None = None,
        out_bytes: int | None = None,
        checked: bool = True,
    ) -> bytes:
        """git's stdout; GitError when it fails, InputError when it passes a bound (and is killed)."""
        if not args or args[0] not in PLUMBING:
            raise ValueError(f"review runs only git's plumbing, not {args[:1]}")
        limit = out_bytes or self.bounds.out_bytes
        command = [self.program, "--no-pager", "--literal-pathspecs", *_config_args(), *args]
        try:
            with anyio.fail_after(self.bounds.seconds):
                code, out, err = await _collect(command, self.folder, self.env, stdin, limit)
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


def _config_args() -> list[str]:
    return [arg for setting in _FIXED for arg in ("-c", setting)]


def quoted(path: str) -> str:
    """A path as GIT_ALTERNATE_OBJECT_DIRECTORIES takes it whatever it holds (`:`, quotes): C-quoted."""
    escaped = path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def child_env(inherited: dict[str, str]) -> dict[str, str]:
    """The environment git runs in: ours without any GIT_* variable (GIT_DIR, GIT_EXTERNAL_DIFF, GIT_PAGER... would
    point it elsewhere or run a program), never prompting, never writing the index, allowing no transport."""
    env = {name: value for name, value in inherited.items() if not name.startswith("GIT_")}
    env.update(
        GIT_ALLOW_PROTOCOL="",
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


async def _collect(
    command: list[str], folder: str, env: dict[str, str], stdin: bytes | None, limit: int
) -> tuple[int, bytes | None, bytes]:
    """(exit code, stdout or None past `limit`, the start of stderr); the process is killed on every way out."""
    # Shielded: a deadline or cancel mid-spawn leaves asyncio's child unreaped and its Popen running unwatched
    # (a ResourceWarning at the next garbage collection, a process outliving the call); past the spawn, `finally`
    # kills it.
    with anyio.CancelScope(shield=True):
        process = await anyio.open_process(command, cwd=folder, env=env, start_new_session=True)
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
