"""`review`: gathering a change from git beside `git diff` itself, and a whole review against the fake upstream at a
fixed model latency beside its floor.

Gathering runs `mcp_server.review.gather_change` in this process on this checkout's last 20 commits (every git
command it runs, the policy, the whole texts, the block), against one `git diff` of the same range. The working
tree case gathers the uncommitted changes of a 20,000-file repository it makes (the server reads the work tree
itself: git's index listing, a stat of every tracked file, and reading each file whose stat data changed), against
`git diff HEAD` plus `git ls-files --others`, with the index fresh and with every file touched. The whole review
runs the tool through the in-memory MCP client against the fake upstream in a thread of this process, with a scripted
reviewer (4 model turns: reads, two turns of findings, the summary) and a scripted checker, each turn answering after
LATENCY seconds. Floor: the model's sequential turns plus the checks (the issue's floor counts only the slowest check,
since checks run in parallel; with 6 findings checked 4 at a time they take two rounds, and both floors are shown).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import ROOT, median
from results import Result, Row, ms

sys.path.insert(0, str(ROOT))  # the fake upstream and the repository maker live in tests/

from mcp_server.context import Job
from mcp_server.core.config import Limits, Settings
from mcp_server.policy import FileAccess, Scanner, home, secret_places
from mcp_server.review import gather_change
from mcp_server.review.check import PARALLEL
from tests.conftest import DEEPSEEK_KEY, connect, make_settings
from tests.fake.agent import Call, Script, Turn
from tests.fake.review import Checker
from tests.fake_upstream import FakeUpstream
from tests.gitrepos import git, make_repo

COMMITS = 20
TRACKED = (1_000, 20)  # folders, files in each: the working-tree case's repository
LATENCY = 0.5  # seconds before each model turn answers
FINDINGS = 6
FINDINGS_SENT = 4  # reported in review_bytes.py's scenario


def _job() -> Job:
    limits = Limits()
    places = secret_places(home())
    return Job(ROOT, FileAccess.of(Settings()), limits, limits.max_context_tokens, Scanner.of(()), places)


def _git_diff(base: str) -> tuple[float, int]:
    started = time.perf_counter()
    # git from PATH on this checkout, as a user runs it
    done = subprocess.run(["git", "diff", "--no-ext-diff", base, "HEAD"], cwd=ROOT, capture_output=True, check=True)
    return time.perf_counter() - started, len(done.stdout)


async def gathering(reps: int) -> Result:
    base = f"HEAD~{COMMITS}"
    times: dict[str, list[float]] = {"ours": [], "git": []}
    change = await gather_change(str(ROOT), f"{base}..HEAD", _job())  # warm the page cache for both
    for _ in range(reps):
        started = time.perf_counter()
        change = await gather_change(str(ROOT), f"{base}..HEAD", _job())
        times["ours"].append(time.perf_counter() - started)
        elapsed, git_bytes = _git_diff(base)
        times["git"].append(elapsed)
    ours, floor = median(times["ours"]), median(times["git"])
    block = len(change.block.encode())
    rows = [
        Row(f"review: gather last {COMMITS} commits", ms(ours), ms(floor), f"{(ours - floor) * 1000:+.1f} ms",
            f"{ours / floor:.1f}x", "< 1 s", ours < 1.0),
        Row("review: bytes gathered", f"{change.diff_bytes / 1024:.0f} KiB diff", f"{git_bytes / 1024:.0f} KiB",
            "", "", "", None),
        Row("review: block sent ahead of the prompt", f"{block / 1024:.0f} KiB, ~{change.tokens:,} tokens",
            f"{len(change.files)} files", "", "", "", None),
    ]  # fmt: skip
    notes = [
        f"review gathering: gather_change on this checkout's last {COMMITS} commits ({len(change.files)} files, "
        f"{len(change.skipped)} skipped), median of {reps}, page cache warm: it runs git's plumbing 10 times (top "
        "folder and git folders, core.worktree, object format, two commit ids, the raw listing, object sizes, the "
        "patch, the whole texts), scans every "
        "hunk and text for keys and renders the block; floor: one `git diff` of the same range, which prints the "
        "patch alone (no whole files)."
    ]
    return Result(rows, {**times, "diff_bytes": change.diff_bytes, "git_bytes": git_bytes, "block": block}, notes)


def _big_repo(root: Path) -> Path:
    """TRACKED files of about 1 KiB committed; then 5 of them changed and one new file."""
    repo = root / "big"
    folders, each = TRACKED
    body = "".join(f"def f{n}(x: int) -> int:\n    return x + {n}\n\n\n" for n in range(30))
    for folder in range(folders):
        (repo / f"pkg{folder}").mkdir(parents=True)
        for name in range(each):
            (repo / f"pkg{folder}" / f"m{name}.py").write_text(f"# {folder}/{name}\n{body}")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    for folder in range(5):
        with (repo / f"pkg{folder}" / "m1.py").open("a") as file:
            file.write("# changed\n")
    (repo / "new.py").write_text("NEW = True\n")
    return repo


def _touch(repo: Path, touched: bool) -> None:
    if touched:
        for path in repo.glob("pkg*/*.py"):
            path.touch()


def _git_view(repo: Path) -> float:
    started = time.perf_counter()
    for args in (["diff", "--no-ext-diff", "HEAD"], ["ls-files", "--others", "--exclude-standard"]):
        subprocess.run(["git", *args], cwd=repo, capture_output=True, check=True)  # git from PATH, as a user runs it
    return time.perf_counter() - started


async def working_tree(reps: int) -> Result:
    rows: list[Row] = []
    raw: dict[str, Any] = {}
    files = TRACKED[0] * TRACKED[1]
    with tempfile.TemporaryDirectory() as scratch:
        repo = _big_repo(Path(scratch))
        for state in ("index fresh", "every file touched"):
            touched = state == "every file touched"
            await gather_change(str(repo), None, dataclasses.replace(_job(), base_dir=repo))  # warm the page cache
            ours: list[float] = []
            floor: list[float] = []
            for _ in range(reps):
                _touch(repo, touched)  # `git diff` refreshes the index it reads: touched again before each run
                started = time.perf_counter()
                await gather_change(str(repo), None, dataclasses.replace(_job(), base_dir=repo))
                ours.append(time.perf_counter() - started)
                _touch(repo, touched)
                floor.append(_git_view(repo))
            mine, theirs = median(ours), median(floor)
            rows.append(
                Row(f"review: working tree of {files:,} files, {state}", ms(mine), ms(theirs),
                    f"{(mine - theirs) * 1000:+.0f} ms", f"{mine / theirs:.1f}x", "< 5 s", mine < 5.0)
            )  # fmt: skip
            raw[f"working tree, {state}"] = {"ours": ours, "git": floor}
    notes = [
        f"review working tree: gather_change on a {files:,}-file repository made for the case (5 files changed, 1 "
        f"new), median of {reps}, page cache warm; the server lists the index with its stat data, stats every "
        "tracked file, and reads through the policy, hashes and writes to its own object store every file whose stat "
        "data changed (all of them, once every file is touched); floor: `git diff HEAD` and `git ls-files --others`, "
        "which print the same view (git reads the touched files too, through any filter the repository names)."
    ]
    return Result(rows, raw, notes)


def _script() -> tuple[Script, Checker]:
    finding = {"path": "src/service.py", "severity": "medium", "detail": "d"}
    findings = [Call("report_finding", {**finding, "line": n, "title": f"F{n}"}) for n in range(1, FINDINGS + 1)]
    reads = [Call("read_file", {"path": "src/service.py"}), Call("grep", {"pattern": "def step_"})]
    half = FINDINGS // 2
    turns = [Turn(reads), Turn(findings[:half]), Turn(findings[half:])]
    return Script(turns, final="Summary.", latency=LATENCY), Checker(latency=LATENCY)


async def whole(reps: int) -> Result:
    turns = 4
    times: list[float] = []
    hits: list[float] = []
    with tempfile.TemporaryDirectory() as scratch, FakeUpstream("deepseek", DEEPSEEK_KEY) as fake:
        repo = make_repo(Path(scratch))
        settings = dataclasses.replace(make_settings(fake), limits=Limits())
        async with connect(settings) as client:
            for _ in range(reps):
                fake.reset()
                fake.agent, fake.checker = _script()
                started = time.perf_counter()
                result = await client.call_tool("review", {"path": str(repo)})
                times.append(time.perf_counter() - started)
                out: Any = result.structured_content
                assert not result.is_error and len(out["findings"]) == FINDINGS, result.content
                hits.append(out["usage"]["cache_hit_tokens"] / max(out["usage"]["prompt_tokens"], 1))
    ours = median(times)
    floor_issue = (turns + 1) * LATENCY
    floor_bounded = (turns + math.ceil(FINDINGS / PARALLEL)) * LATENCY
    rows = [
        Row(f"review: whole, {FINDINGS} findings, {LATENCY:g} s turns", ms(ours), ms(floor_bounded),
            f"{(ours - floor_bounded) * 1000:+.0f} ms", f"{ours / floor_bounded:.2f}x", "< floor + 1 s",
            ours < floor_bounded + 1.0),
        Row("review: same, beside the issue's floor", ms(ours), ms(floor_issue),
            f"{(ours - floor_issue) * 1000:+.0f} ms", f"{ours / floor_issue:.2f}x", "", None),
        Row("review: prompt tokens served from cache", f"{median(hits):.0%}", "", "", "", "", None),
    ]  # fmt: skip
    notes = [
        f"review whole: the tool through the in-memory client, the fake upstream in a thread of this process, every "
        f"model turn answering after {LATENCY:g} s; a reviewer of {turns} sequential turns (2 reads, {FINDINGS} "
        f"findings over 2 turns, the summary) and {FINDINGS} checks, {PARALLEL} at a time; median of {reps}. Floors: "
        f"{turns} turns plus {math.ceil(FINDINGS / PARALLEL)} rounds of checks ({PARALLEL} at a time), and the "
        "issue's (the turns plus the slowest check, as if every check ran at once). Cache share: cache-hit tokens "
        "over prompt tokens of every call (the fake's prefix cache in 64-token units): each reviewer turn repeats "
        "the last, and every check repeats the others' system prompt and functions."
    ]
    return Result(rows, {"times": times, "cache_share": hits}, notes)


def _before() -> str:
    """The revision before review stopped resending whole files: the parent of the commit that made checks runs of
    their own (adding agent/verdicts.py), the first change to what review sends."""
    added = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%H", "--", "mcp_server/agent/verdicts.py"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return f"{added[-1]}^" if added else "HEAD"


def _figures(pythonpath: str | None) -> list[dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": pythonpath} if pythonpath else dict(os.environ)
    script = Path(__file__).with_name("review_bytes.py")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True, env=env)
    figures: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def sent() -> Result:
    """Bytes, prompt tokens and the cache share of one review, this checkout beside the revision before hunks."""
    rev = _before()
    with tempfile.TemporaryDirectory() as old:
        archive = subprocess.run(["git", "archive", rev, "mcp_server"], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", old], input=archive.stdout, check=True)
        before = _figures(old)
    after = _figures(None)
    rows: list[Row] = []
    for now, then in zip(after, before, strict=True):
        size, case = now["file_bytes"], now["case"]
        reported = FINDINGS_SENT
        rows += [
            Row(f"review bytes: {case}, 1 line changed, {reported} findings", f"{now['bytes'] / 1024:.0f} KiB",
                f"{then['bytes'] / 1024:.0f} KiB before", f"{now['bytes'] / size:.2f}x the file",
                f"{then['bytes'] / size:.1f}x before", "< 2x the file", now["bytes"] < 2 * size),
            Row(f"review tokens: {case}, per review / per finding",
                f"{now['prompt_tokens']:,} / {now['prompt_tokens'] // reported:,}",
                f"{then['prompt_tokens']:,} / {then['prompt_tokens'] // reported:,} before",
                "", f"{then['prompt_tokens'] / now['prompt_tokens']:.0f}x fewer", "", None),
            Row(f"review cache-hit share: {case}", f"{now['cache_hit_tokens'] / now['prompt_tokens']:.0%}",
                f"{then['cache_hit_tokens'] / then['prompt_tokens']:.0%} before", "", "", "", None),
            Row(f"review findings: {case}", _outcome(now), f"{_outcome(then)} before", "", "", "no worse",
                (now["findings"], now["refuted"]) == (then["findings"], then["refuted"])),
        ]  # fmt: skip
    notes = [
        f"review bytes: bench/review_bytes.py through the tool against the fake, on this checkout and on {rev} (the "
        "revision before review stopped resending files, its mcp_server exported by git archive), side by side in "
        "this run: a one-line change in the middle of a long file, a reviewer that reads 40 lines around it and "
        f"reports {FINDINGS_SENT} findings, a checker that confirms three and refutes one. Bytes are every request "
        "body of the review and its checks; tokens are the fake's prompt tokens (a word is a token), billed over all "
        "requests; the cache-hit share is their share served from the fake's prefix cache."
    ]
    return Result(rows, {"before": before, "after": after, "rev": rev}, notes)


def _outcome(figures: dict[str, Any]) -> str:
    return f"{figures['findings']} held, {figures['refuted']} refuted, {figures['dropped']} dropped"


async def run(quick: bool) -> Result:
    gathered = await gathering(3 if quick else 9)
    tree = await working_tree(3 if quick else 5)
    reviewed = await whole(1 if quick else 3)
    bytes_ = sent()
    parts = (gathered, tree, reviewed, bytes_)
    raw = {key: value for part in parts for key, value in part.raw.items()}
    raw["sent"] = bytes_.raw
    return Result([r for p in parts for r in p.rows], raw, [n for p in parts for n in p.notes])
