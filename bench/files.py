"""`files` on chat and reason: walking, filtering and reading a tree, against a bare os.walk that reads everything.

Measured in this process on `mcp_server.context.gather`, the function the server runs in a worker thread per call,
so the figure is the file work alone (the upstream call that follows is the same with or without files).
"""

from __future__ import annotations

import dataclasses
import gc
import os
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import ROOT, median
from results import Result, Row, ms

from mcp_server.context import Job, gather
from mcp_server.core.config import Limits
from mcp_server.policy import Scanner, home, secret_places
from mcp_server.policy.access import FileAccess

FILES = 5000
FOLDERS = 50
# About 700 bytes of Python each: 3.5 MB in all, ~1M tokens, so the budget below is raised past the default.
SOURCE = "".join(f"def function_{n}(value: int) -> int:\n    return value * {n} + {n % 7}\n\n" for n in range(12))


def make_tree(root: Path) -> Path:
    """FILES text files in FOLDERS folders, plus what a real tree has and a walk skips: a .gitignore'd build
    output, node_modules, a .git folder, binary files and a .env."""
    tree = root / "tree"
    for n in range(FILES):
        folder = tree / "src" / f"pkg{n % FOLDERS:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"module_{n}.py").write_text(f"# module {n}\n{SOURCE}")
    (tree / ".gitignore").write_text("/out/\n*.bin\n")
    for skipped in ("out/gen.py", "node_modules/x/index.js", ".git/HEAD", "assets/blob.bin", ".env"):
        (tree / skipped).parent.mkdir(parents=True, exist_ok=True)
        (tree / skipped).write_text("skipped\n")
    (tree / "assets" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00" * 100)
    return tree


def _job(limits: Limits) -> Job:
    return Job(
        base_dir=ROOT,
        files=FileAccess(None, False),
        limits=limits,
        budget=10_000_000,
        scanner=Scanner.of(("sk-bench-0123456789abcdef",)),
        places=secret_places(home()),
    )


def _ours(tree: Path, limits: Limits) -> Callable[[], int]:
    def run() -> int:
        return len(gather([str(tree)], _job(limits)).text)

    return run


def _floor(tree: Path) -> Callable[[], int]:
    """Every file under the tree read and decoded, no filter: the least a walk that reads the files can do."""

    def run() -> int:
        total = 0
        for folder, _, names in os.walk(tree):
            for name in sorted(names):
                with open(os.path.join(folder, name), "rb") as file:
                    total += len(file.read().decode("utf-8", "replace"))
        return total

    return run


def _timed(fn: Callable[[], int]) -> float:
    gc.collect()
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _peak_mb(fn: Callable[[], int]) -> tuple[float, int]:
    gc.collect()
    tracemalloc.start()
    try:
        size = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20, size


def tree_walk(reps: int) -> Result:
    limits = dataclasses.replace(Limits(), context_files=FILES + 100, context_total_bytes=64 * 2**20)
    with tempfile.TemporaryDirectory() as scratch:
        tree = make_tree(Path(scratch))
        ours, floor = _ours(tree, limits), _floor(tree)
        ours(), floor()  # warm the page cache for both
        times: dict[str, list[float]] = {"ours": [], "floor": [], "repo": []}
        for rep in range(reps):
            for name, fn in (("ours", ours), ("floor", floor)) if rep % 2 == 0 else (("floor", floor), ("ours", ours)):
                times[name].append(_timed(fn))
            times["repo"].append(_timed(_ours(ROOT, Limits())))
        peak, text = _peak_mb(ours)
    subject, base, repo = (median(times[k]) for k in ("ours", "floor", "repo"))
    sent_mb = text / 2**20
    rows = [
        Row(
            f"files: walk + read {FILES:,}-file tree",
            ms(subject),
            ms(base),
            f"{(subject - base) * 1000:+.1f} ms",
            f"{subject / base:.2f}x",
            "< 500 ms",
            subject < 0.5,
        ),
        Row("files: peak memory, same tree", f"{peak:.1f} MB", f"{sent_mb:.1f} MB sent", "", f"{peak / sent_mb:.1f}x",
            "<= 4x the text", peak <= 4 * sent_mb),
        Row("files: walk + read this repository", ms(repo), "", "", "", "< 100 ms", repo < 0.1),
    ]  # fmt: skip
    notes = [
        f"files: mcp_server.context.gather in this process on a tree made here ({FILES:,} Python files of "
        f"{len(SOURCE) + 12} bytes in {FOLDERS} folders, plus a .gitignore'd folder, node_modules, .git, binary "
        "files and a .env), median of "
        f"{reps} runs, page cache warm; floor: os.walk reading and decoding every file with no filter, "
        "interleaved. Peak memory: tracemalloc's peak of one gather (Python allocations), next to the size of the "
        "block it returns; the file texts and the joined block are both alive at the end, so 2x is the least. The "
        f"repository row walks this checkout ({ROOT.name}) with the server's defaults. Targets: the issue's (this "
        "repository well under 100 ms); for the big tree, a fraction of a second, well inside the time to DeepSeek's "
        "first token: the floor does a third of the work (no .gitignore, no secret scan, no rendering)."
    ]
    raw: dict[str, Any] = {**times, "peak_mb": peak, "text_bytes": text}
    return Result(rows, raw, notes)
