"""`delegate` (`--only delegate`): three figures, each beside its floor in this one run.

- Server time per step: a 10-step task on this repository (reads and edits, no check) through the installed server
  over stdio against the fake's scripted model at 200 ms a turn; the server's time is the call's wall time less the
  fake's own time per request, so it holds the scratch copy, every function, the patch and its verification.
- The scratch copy of a 5,000-file repository (bench/files.py's tree, committed to git): `copy_tree` (walk, checked
  opening, secret scan, write) beside `git worktree add` of the same commit, the issue's reference (< 1 s), which
  delegate does not use: it writes the user's .git (worktrees/) and runs git on the user's repository.
- The check's overhead: `true` through the check runner, in bubblewrap and without, beside `sh -c true` started
  directly; the difference is what the runner adds to any command (process group, pipes, the sandbox).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import files
from harness import Bench, session
from results import Result, Row, ms, signed_ms

from mcp_server.agent import Workspace
from mcp_server.core.config import Limits
from mcp_server.delegate import Runner, Session
from mcp_server.delegate.environment import scrubbed
from mcp_server.delegate.sandbox import Sandbox, usable
from mcp_server.policy import Redactor, Scanner, home, secret_places
from mcp_server.policy.access import FileAccess

LATENCY = 0.2
COPY_TARGET = 1.0
STEPS: list[tuple[str, dict[str, Any]]] = [
    ("list_dir", {"path": ""}),
    ("grep", {"pattern": "def stream", "path": "mcp_server"}),
    ("read_file", {"path": "mcp_server/agent/loop.py", "start_line": 1, "end_line": 40}),
    ("edit_file", {"path": "README.md", "old_text": "# deepseek-mcp\n", "new_text": "# deepseek-mcp (bench)\n"}),
    ("edit_file", {"path": "docs/bench-note.md", "old_text": "", "new_text": "A note the bench writes.\n"}),
    ("glob", {"pattern": "tests/test_*.py"}),
    (
        "edit_file",
        {"path": "mcp_server/agent/loop.py", "old_text": "MAX_SECONDS = 600.0", "new_text": "MAX_SECONDS = 601.0"},
    ),
    ("read_file", {"path": "docs/bench-note.md"}),
    ("delete_file", {"path": "docs/bench-note.md"}),
    ("grep", {"pattern": "MAX_SECONDS", "glob": "*.py"}),
]


def script() -> dict[str, Any]:
    turns = [{"calls": [{"name": name, "arguments": args}], "reasoning": "Next."} for name, args in STEPS]
    return {"turns": turns, "final": "Renamed the bound.", "latency": LATENCY}


async def run(b: Bench, reps: int) -> Result:
    steps = await _per_step(b, reps)
    copy = await anyio.to_thread.run_sync(_copy, max(reps, 3))
    check = await _check_overhead(reps * 4)
    return Result(
        [*steps.rows, *copy.rows, *check.rows],
        {**steps.raw, **copy.raw, **check.raw},
        steps.notes + copy.notes + check.notes,
    )


async def _per_step(b: Bench, reps: int) -> Result:
    figures = []
    async with session(b, b.subject) as client:
        for _ in range(reps):
            await b.fake.reset()
            await b.fake._control.post("/_fake/agent", json=script())
            start = time.perf_counter()
            result = await client.call_tool("delegate", {"task": "Raise the loop's wall-time bound.", "check": False})
            wall = time.perf_counter() - start
            out = result.structured_content
            if result.is_error or out is None or not out["verification"]["applies"]:
                raise RuntimeError(f"delegate failed: {result.content}")
            chats = [r for r in await b.fake.requests() if r["path"].endswith("/chat/completions")]
            upstream = sum(r["finished"] - r["started"] for r in chats)
            figures.append(
                {"wall": wall, "server": wall - upstream, "steps": len(out["steps"]), "files": len(out["files"])}
            )
    mid = sorted(figures, key=lambda f: f["server"])[len(figures) // 2]
    per_step = mid["server"] / mid["steps"]
    row = Row("delegate: server time per step", ms(per_step), ms(LATENCY), "", f"{per_step / LATENCY:.2f}x",
              "< model latency", per_step < LATENCY)  # fmt: skip
    note = (
        f"delegate: {mid['steps']} function calls (reads, 3 edits, a create and a delete) on this repository, no "
        f"check; wall {mid['wall']:.2f} s, the server's own {mid['server'] * 1000:.0f} ms (the scratch copy of the "
        f"repository, each function, the patch of {mid['files']} files and its verification). Median of {len(figures)}."
    )
    return Result([row], {"steps": figures}, [note])


def _copy(reps: int) -> Result:
    """Both copies into the system's temp folder (a disk here) and, where there is one, into a tmpfs (/dev/shm, as
    XDG_RUNTIME_DIR is on systemd systems): file creation dominates, and a shared disk's latency varies tenfold."""
    rows, raw, notes = [], {}, []
    with tempfile.TemporaryDirectory(prefix="bench-delegate-") as folder:
        tree = files.make_tree(Path(folder))
        shutil.rmtree(tree / ".git")  # the files bench's stand-in, made into a real repository here
        _git(tree, "init", "-q")
        _git(tree, "add", "-A")
        _git(tree, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "tree")
        places = [("temp folder", tempfile.gettempdir())]
        if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):  # noqa: S108 - a place to measure, not a file
            places.append(("tmpfs", "/dev/shm"))  # noqa: S108
        for where, base in places:
            ours, worktree, copied = _copies(tree, base, reps)
            a, w = statistics.median(ours), statistics.median(worktree)
            rows.append(Row(f"delegate: scratch copy of {files.FILES:,} files, {where}", ms(a), ms(w), signed_ms(a - w),
                            f"{a / w:.2f}x", f"< {COPY_TARGET:g} s", a < COPY_TARGET))  # fmt: skip
            raw[f"copy {where}"], raw[f"worktree {where}"] = ours, worktree
    notes.append(
        f"delegate: the scratch copy (walk, checked opening, secret scan of every byte, write) of a "
        f"{files.FILES:,}-file tree ({copied:,} copied; .git, node_modules, the ignored and the .env left out) "
        "beside `git worktree add --detach` of the same commit into the same place (the floor: git checks out "
        f"with no scan and no policy). Median of {reps}."
    )
    return Result(rows, raw, notes)


def _copies(tree: Path, base: str, reps: int) -> tuple[list[float], list[float], int]:
    ours, worktree, copied = [], [], 0
    for n in range(reps):
        start = time.perf_counter()
        made = Session.open(_workspace(tree), base)
        ours.append(time.perf_counter() - start)
        copied = made.copied.files
        made.close()
        target = Path(tempfile.mkdtemp(dir=base)) / f"worktree-{n}"
        start = time.perf_counter()
        _git(tree, "worktree", "add", "-q", "--detach", str(target), "HEAD")
        worktree.append(time.perf_counter() - start)
        _git(tree, "worktree", "remove", "--force", str(target))
        target.parent.rmdir()
    return ours, worktree, copied


async def _check_overhead(reps: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="bench-delegate-check-") as folder:
        direct = [await _direct() for _ in range(reps)]
        bare = [await _runner(folder, None).run() for _ in range(reps)]
        rows = [_overhead_row("unsandboxed", [c.seconds for c in bare], direct)]
        why = await anyio.to_thread.run_sync(usable, _bwrap())
        if why is None:
            box = Sandbox(_bwrap() or "", folder, folder, folder, (), secret_places(home()), dict(os.environ)).prefix()
            boxed = [await _runner(folder, box).run() for _ in range(reps)]
            rows.append(_overhead_row("in bubblewrap", [c.seconds for c in boxed], direct))
    note = f"delegate: the check `true` through the runner beside `sh -c true` started directly; median of {reps}."
    if why is not None:
        note += f" No sandbox row: {why}."
    return Result(rows, {"check_direct": direct}, [note])


def _overhead_row(how: str, ours: list[float], direct: list[float]) -> Row:
    a, d = statistics.median(ours), statistics.median(direct)
    return Row(f"delegate: check overhead, {how}", ms(a), ms(d), signed_ms(a - d), f"{a / d:.1f}x", "", None)


async def _direct() -> float:
    start = time.perf_counter()
    await anyio.run_process(["/bin/sh", "-c", "true"])
    return time.perf_counter() - start


def _runner(folder: str, prefix: list[str] | None) -> Runner:
    environment = scrubbed(os.environ.items(), (), Scanner.of(()))
    return Runner("true", 60.0, folder, environment, prefix, Redactor(()), Scanner.of(()))


def _bwrap() -> str | None:
    return shutil.which("bwrap")


def _workspace(tree: Path) -> Workspace:
    limits = Limits(context_entries=100_000)
    return Workspace(tree, FileAccess(None, False), limits, Scanner.of(()), secret_places(home()))


def _git(folder: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True)  # the bench's own repository
