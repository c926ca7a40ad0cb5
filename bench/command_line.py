"""The command line a person types: `deepseek-mcp --version` answers before the MCP SDK is imported (under 0.2 s),
side by side with `python -c pass`, the interpreter's own start, as its floor."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from harness import Bench
from results import Result, Row, ms, signed_ms

TARGET_S = 0.2


def _wall(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, timeout=60)
    return time.perf_counter() - started


def version(b: Bench, reps: int) -> Result:
    subject = [b.subject.command, *b.subject.args, "--version"]
    floor = [sys.executable, "-c", "pass"]
    runs = [(_wall(subject), _wall(floor)) for _ in range(reps)]  # interleaved: the same load for both
    mine, bare = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
    row = Row("deepseek-mcp --version", ms(mine), ms(bare), signed_ms(mine - bare), "", "< 200 ms", mine < TARGET_S)
    notes = [f"--version: median of {reps} runs of the installed console script; floor `python -c pass`."]
    return Result([row], {"subject": mine, "floor": bare}, notes)
