"""Benchmarks for deepseek-mcp against its floors (issue 5): `.venv/bin/python bench/run.py [--quick]`.

Starts the fake upstream (tests/fake_upstream.py, its own process), runs each case with deepseek-mcp and its floor
side by side in this one run, and prints a table of medians, differences and ratios, then how each was measured.
Floors: an empty MCPServer started the same way (bench/empty_server.py), a direct HTTP request to the same fake,
and the upstream latency itself. Not part of the test suite: timings on a shared CI machine mean little.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any, TextIO

import anyio
import citations
import command_line
import delegate
import files
import footprint
import investigate
import latency
import ocr
import ocr_answer
import redaction
import review
import secret_scan
import state
from harness import Bench, Fake, require_install, subject_from
from results import Result, Row

BUSY = 1.0  # a 1-minute load average above this means something else competed for the two cores
CASES = (
    "cold", "overhead", "concurrency", "progress", "memory", "tools", "imports", "files", "secrets", "ocr",
    "ocr_answer", "redaction", "state", "investigate", "review", "citations", "delegate",
)  # fmt: skip
COLUMNS = ("case", "deepseek-mcp", "floor", "diff", "ratio", "target", "met")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (about a minute); figures are noisier")
    parser.add_argument("--only", default="", help="comma-separated subset of: " + ",".join(CASES))
    parser.add_argument("--json", type=Path, help="also write the raw figures to this file")
    parser.add_argument(
        "--subject", help="command to run instead of .venv/bin/deepseek-mcp, e.g. a patched checkout's `python -m ...`"
    )
    return parser.parse_args()


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    return (
        f"{today}, {os.cpu_count()} cores ({cpu}), Linux {platform.release()}, Python {platform.python_version()}, "
        f"mcp {version('mcp')}, deepseek-mcp {version('deepseek-mcp')}"
    )


def plan(quick: bool, b: Bench) -> dict[str, Callable[[], Awaitable[Result]]]:
    def n(full: int, fast: int) -> int:
        return fast if quick else full

    async def tools() -> Result:
        return footprint.tool_list(b)

    async def imports() -> Result:
        return footprint.startup_imports(b)

    async def version() -> Result:
        return command_line.version(b, reps=n(20, 5))

    async def tree() -> Result:
        return files.tree_walk(reps=n(9, 3))

    async def redaction_case() -> Result:
        return redaction.run(reps=n(5, 2))

    async def citations_case() -> Result:
        return citations.run(quick)

    return {
        "cold": lambda: latency.cold_start(b, reps=n(20, 5)),
        "overhead": lambda: latency.overhead(b, short_rounds=n(300, 60), stream_rounds=n(30, 8), paced_rounds=n(5, 2)),
        "concurrency": lambda: latency.concurrency(b, reps=n(5, 2)),
        "progress": lambda: latency.progress(b, reps=n(20, 6)),
        "memory": lambda: footprint.memory(b, calls=n(1000, 1000)),
        "tools": tools,
        "imports": imports,
        "version": version,
        "files": tree,
        "secrets": lambda: secret_scan.run_async(reps=n(5, 2)),
        "ocr": lambda: ocr.run(b.errlog, quick),
        "ocr_answer": lambda: ocr_answer.run(b.errlog),
        "redaction": redaction_case,
        "state": lambda: state.run(quick),
        "investigate": lambda: investigate.run(b, reps=n(5, 2)),
        "review": lambda: review.run(quick),
        "citations": citations_case,
        "delegate": lambda: delegate.run(b, reps=n(5, 2)),
    }


def load() -> str:
    """The 1-minute load average: other processes on a 2-core machine move every figure."""
    return f"{os.getloadavg()[0]:.2f}"


def table(rows: list[Row]) -> str:
    cells = [COLUMNS] + [
        (r.case, r.subject, r.floor, r.diff, r.ratio, r.target, "-" if r.met is None else "yes" if r.met else "NO")
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    lines.insert(1, "| " + " | ".join("-" * w for w in widths) + " |")
    return "\n".join(lines)


async def run_cases(args: argparse.Namespace, errlog: TextIO) -> tuple[list[Row], list[str], dict[str, Any]]:
    chosen = [c for c in args.only.split(",") if c]
    rows: list[Row] = []
    notes: list[str] = []
    raw: dict[str, Any] = {}
    fake = Fake()
    try:
        b = Bench(fake, errlog, subject=subject_from(args.subject))
        for name, case in plan(args.quick, b).items():
            if chosen and name not in chosen:
                continue
            print(f"running {name} ...", file=sys.stderr, flush=True)
            await fake.reset()
            result = await case()
            rows += result.rows
            notes += result.notes
            raw[name] = result.raw
    finally:
        await fake.aclose()
    return rows, notes, raw


def main() -> int:
    args = parse_args()
    require_install()
    started = time.monotonic()
    load_before = load()
    log = Path(tempfile.gettempdir()) / "deepseek-mcp-bench-stderr.log"
    with log.open("w+") as errlog:
        try:
            rows, notes, raw = anyio.run(run_cases, args, errlog)
        except BaseException:
            errlog.seek(0)
            print(f"the servers' stderr ({log}), last lines:\n{errlog.read()[-4000:]}", file=sys.stderr)
            raise
    print(f"deepseek-mcp benchmarks{' (--quick)' if args.quick else ''}: {machine()}")
    print(f"medians; run took {time.monotonic() - started:.0f} s; 1-minute load average before it: {load_before}")
    if float(load_before) > BUSY:
        print("(the machine was busy with other work: figures are noisier, and the subject, with one process more")
        print(" than its floor, suffers more from it)")
    print()
    print(table(rows))
    print()
    for note in notes:
        print(f"- {note}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "quick": args.quick, "raw": raw}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
