"""Explain one conformance run from its results directory; the suite's own exit code stays the verdict.

    python conformance_report.py RESULTS_DIR REQUIREMENTS_YAML BASELINE_YAML

Reads every `server-<scenario>-<timestamp>/checks.json`, collapses repeated check ids the way the suite does
(most severe wins, INFO ignored), and prints: the scored scenarios' totals; every failing or warning check that the
baseline does not excuse, with its message (with a baseline the suite counts a WARNING as a failure); every
baseline entry whose check now passes (stale); and one line per scenario the requirement set runs without scoring.
Standard library only, so it runs from any venv.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

_RUN_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")
_SEVERITY = {"FAILURE": 3, "WARNING": 2, "SUCCESS": 1}
_BAD = ("FAILURE", "WARNING")


def load_runs(results: Path) -> dict[str, list[dict[str, object]]]:
    runs: dict[str, list[dict[str, object]]] = {}
    for checks in sorted(results.glob("*/checks.json")):
        match = _RUN_DIR.match(checks.parent.name)
        if match:
            runs[match["scenario"]] = collapse(json.loads(checks.read_text()))
    return runs


def collapse(checks: list[dict[str, object]]) -> list[dict[str, object]]:
    """One verdict per check id, the most severe; INFO rows are notes, not verdicts."""
    best: dict[str, dict[str, object]] = {}
    for check in checks:
        status = str(check.get("status"))
        if status == "INFO":
            continue
        current = best.get(str(check["id"]))
        if current is None or _SEVERITY.get(status, 0) >= _SEVERITY.get(str(current["status"]), 0):
            best[str(check["id"])] = check
    return list(best.values())


def not_scored(requirements: Path) -> dict[str, str]:
    """The requirement set's `not_scored` server entries: scenario -> reason (the files are plain, frozen YAML)."""
    text = requirements.read_text()
    section = text.split("\nnot_scored:", 1)[1] if "\nnot_scored:" in text else ""
    entries = re.findall(r"-\s*scenario:\s*(\S+)\s+leg:\s*(\S+)\s+reason:\s*(\S+)", section)
    return {scenario: reason for scenario, leg, reason in entries if leg == "server"}


def baseline(path: Path) -> tuple[set[str], set[tuple[str, str]]]:
    whole: set[str] = set()
    checks: set[tuple[str, str]] = set()
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("- "):
            continue
        entry = line[2:].strip()
        scenario, _, check = entry.partition(":")
        if check:
            checks.add((scenario, check))
        else:
            whole.add(scenario)
    return whole, checks


def message(check: dict[str, object]) -> str:
    details = check.get("details")
    note = details.get("message") if isinstance(details, dict) else None
    text = str(check.get("errorMessage") or note or check.get("description") or "")
    return text if len(text) <= 220 else text[:217] + "..."


def main(results: Path, requirements: Path, baseline_file: Path) -> int:
    runs = load_runs(results)
    unscored = not_scored(requirements)
    whole, excused = baseline(baseline_file)
    scored = {name: checks for name, checks in runs.items() if name not in unscored}
    unexpected: list[str] = []
    expected = 0
    for name, checks in sorted(scored.items()):
        for check in checks:
            key = (name, str(check["id"]))
            if check["status"] in _BAD:
                if name in whole or key in excused:
                    expected += 1
                else:
                    unexpected.append(f"  UNEXPECTED {name}:{check['id']} {check['status']}: {message(check)}")
    stale = [
        f"  STALE {name}:{check_id} now passes: remove it from {baseline_file.name}"
        for name, check_id in sorted(excused)
        if any(c["id"] == check_id and c["status"] == "SUCCESS" for c in scored.get(name, []))
    ] + [
        f"  STALE {name} now passes: remove it from {baseline_file.name}"
        for name in sorted(whole)
        if name in scored and all(c["status"] not in _BAD for c in scored[name])
    ]
    clean = sum(all(c["status"] not in _BAD for c in checks) for checks in scored.values())
    print(
        f"  scored: {len(scored)} scenarios run, {clean} with no failing check; {expected} failing checks excused "
        f"by the baseline (fixtures), {len(unexpected)} unexpected, {len(stale)} stale"
    )
    for line in unexpected + stale:
        print(line)
    for reason in sorted(set(unscored.values())):
        names = sorted(n for n in runs if unscored.get(n) == reason)
        failing = {n: [str(c["id"]) for c in runs[n] if c["status"] in _BAD] for n in names}
        failing = {n: ids for n, ids in failing.items() if ids}
        if names:
            shown = "; ".join(
                f"{n} ({', '.join(ids) if len(ids) < 3 else f'{len(ids)} checks'})" for n, ids in failing.items()
            )
            head = f"  not scored, {reason}: {len(names)} run, {len(failing)} failing (cannot fail the run)"
            print(f"{head}: {shown}" if shown else head)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
