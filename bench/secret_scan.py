"""The secret scanner (mcp_server.policy.scan) measured: recall on planted secrets, false positives on neutral text,
and speed on ordinary code. `bench/run.py --only secrets`.

Named secret_scan.py, not secrets.py: bench/ is the first entry of sys.path when run.py runs, and a module named
`secrets` there would stand in for the standard library's (which the server itself imports).

The planted corpus is tests/secret_corpus.py (built at run time from parts; pytest asserts its 100% too). The
neutral corpus is the standard library of the running interpreter: every .py module outside its test packages
("ordinary code"), and its test packages apart (they hold passwords and keys on purpose, as test data).
"""

from __future__ import annotations

import statistics
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

from harness import ROOT
from results import Result, Row

from mcp_server.policy.scan import Scanner

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.secret_corpus import CATEGORIES, NEUTRAL, OWN

_TESTS = {"test", "tests", "idle_test", "idlelib"}


def stdlib() -> tuple[list[Path], list[Path]]:
    """The standard library's .py modules: (ordinary modules, modules of its test packages)."""
    lib = Path(sysconfig.get_paths()["stdlib"])
    modules = [
        p for p in sorted(lib.rglob("*.py")) if "site-packages" not in p.parts and "dist-packages" not in p.parts
    ]
    ordinary = [p for p in modules if not _TESTS & set(p.relative_to(lib).parts)]
    tests = [p for p in modules if _TESTS & set(p.relative_to(lib).parts)]
    return ordinary, tests


def _flagged(scanner: Scanner, paths: list[Path]) -> list[tuple[Path, str]]:
    found = []
    for path in paths:
        finding = scanner.find_bytes(path.read_bytes())
        if finding is not None:
            found.append((path, finding.reason))
    return found


def _speed(scanner: Scanner, paths: list[Path], reps: int) -> tuple[float, float]:
    """MB/s reading the files and scanning them, and reading them alone, median of `reps` interleaved passes (one
    pass first to warm up: the rules a file's keywords wake are compiled on first use)."""
    size = sum(p.stat().st_size for p in paths)
    for path in paths:
        scanner.find_bytes(path.read_bytes())
    scans, reads = [], []
    for _ in range(reps):
        started = time.perf_counter()
        for path in paths:
            path.read_bytes()
        reads.append(time.perf_counter() - started)
        started = time.perf_counter()
        for path in paths:
            scanner.find_bytes(path.read_bytes())
        scans.append(time.perf_counter() - started)
    return size / 1e6 / statistics.median(scans), size / 1e6 / statistics.median(reads)


def run(reps: int = 5) -> Result:
    scanner = Scanner.of((OWN,))
    rows: list[Row] = []
    caught_all = total_all = 0
    missed: list[str] = []
    for category, cases in CATEGORIES.items():
        caught = 0
        for name, text in cases:
            if scanner.find(text) is not None:
                caught += 1
            else:
                missed.append(f"{category}: {name}")
        caught_all, total_all = caught_all + caught, total_all + len(cases)
        rows.append(
            Row(f"secrets: recall, {category}", f"{caught}/{len(cases)}", "", "", "", "100%", caught == len(cases))
        )
    rows.append(
        Row("secrets: recall, all planted", f"{caught_all}/{total_all}", "", "", "", "100%", caught_all == total_all)
    )
    neutral = scanner.find(NEUTRAL)
    rows.append(
        Row("secrets: neutral file flagged", "no" if neutral is None else "yes", "", "", "", "no", neutral is None)
    )
    ordinary, tests = stdlib()
    flagged, flagged_tests = _flagged(scanner, ordinary), _flagged(scanner, tests)
    share, share_tests = len(flagged) / len(ordinary), len(flagged_tests) / max(1, len(tests))
    rows.append(
        Row(f"secrets: stdlib modules flagged ({len(ordinary):,})", f"{len(flagged)} ({share:.2%})", "", "", "",
            "< 1%", share < 0.01)
    )  # fmt: skip
    rows.append(
        Row(f"secrets: stdlib test modules flagged ({len(tests):,})", f"{len(flagged_tests)} ({share_tests:.1%})",
            "", "", "", "", None)
    )  # fmt: skip
    speed, reading = _speed(scanner, ordinary, reps)
    size = sum(p.stat().st_size for p in ordinary) / 1e6
    rows.append(Row(f"secrets: read and scan, stdlib ({size:.1f} MB)", f"{speed:.0f} MB/s", f"{reading:.0f} MB/s",
                    "", f"{speed / reading:.2f}", ">= 50 MB/s", speed >= 50))  # fmt: skip
    lib = Path(sysconfig.get_paths()["stdlib"])
    notes = [
        f"secrets: Scanner.find on tests/secret_corpus.py ({total_all} planted cases in {len(CATEGORIES)} categories, "
        "made at run time) and on its neutral file (SHA-256s, UUIDs, commit ids, base64 data, placeholders); "
        f"false positives: Python {sys.version.split()[0]}'s standard library ({lib}), every .py module outside "
        "its test packages, and the test packages apart (they hold secrets on purpose). Speed: the ordinary "
        f"modules read and scanned in this process (find_bytes, one thread), its floor reading them alone, "
        f"interleaved, median of {reps} passes after one to warm up. bench/scanners.py puts the scanner beside "
        "kingfisher, betterleaks and detect-secrets.",
        "secrets: flagged stdlib modules: "
        + ("; ".join(f"{p.relative_to(lib)} ({why})" for p, why in flagged) or "none"),
    ]
    if missed:
        notes.append("secrets: missed: " + ", ".join(missed))
    raw: dict[str, Any] = {
        "recall": caught_all / total_all,
        "flagged": [str(p) for p, _ in flagged],
        "flagged_tests": len(flagged_tests),
        "mb_per_s": speed,
        "reading_mb_per_s": reading,
    }
    return Result(rows, raw, notes)


async def run_async(reps: int) -> Result:
    """`run` for bench/run.py's plan, whose cases are coroutines (the scan itself is synchronous)."""
    return run(reps)
