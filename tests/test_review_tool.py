"""`review` through the in-memory client against the fake upstream: a scripted reviewer reports findings (real,
invented, refuted), a scripted checker gives verdicts, and what reached the fake is searched for the secrets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from mcp_server.review.check import PARALLEL
from tests.conftest import connect, make_settings
from tests.fake.agent import Call, Script, Turn
from tests.fake.review import Checker
from tests.fake_upstream import FakeUpstream
from tests.gitrepos import ENV_LINE, GITHUB_TOKEN, make_repo

pytestmark = pytest.mark.anyio

REAL = {
    "path": "src/service.py",
    "line": 10,
    "severity": "high",
    "title": "step_3 subtracts",
    "detail": "The sign flipped.",
    "suggestion": "Add 3 again.",
}
NIT = {"path": "src/service.py", "line": 1, "severity": "low", "title": "Name is vague", "detail": "Rename step_1."}
INVENTED_FILE = {"path": "src/nowhere.py", "line": 3, "severity": "high", "title": "Ghost", "detail": "Not there."}
INVENTED_LINE = {"path": "src/service.py", "line": 999, "severity": "medium", "title": "Far", "detail": "Too far."}


def reviewer(*turns: list[Call], final: str = "The change flips a sign in step_3.") -> Script:
    return Script(turns=[Turn(calls=list(calls)) for calls in turns], final=final)


def report(args: dict[str, Any]) -> Call:
    return Call("report_finding", args)


async def run_review(deepseek: FakeUpstream, repo: Path, **arguments: Any) -> dict[str, Any]:
    async with connect(make_settings(deepseek)) as client:
        with anyio.fail_after(30):
            result = await client.call_tool("review", {"path": str(repo), **arguments})
    assert not result.is_error, result.content
    out = result.structured_content
    assert isinstance(out, dict)
    out["_text"] = "\n".join(getattr(b, "text", "") for b in result.content)
    return out


async def test_a_confirmed_finding_is_reported_with_its_lines_and_the_checks_reason(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    deepseek.agent = reviewer([Call("read_file", {"path": "src/service.py", "start_line": 8}), report(REAL)])
    deepseek.checker = Checker()
    out = await run_review(deepseek, repo)
    [finding] = out["findings"]
    assert finding["quote"] == "    return x - 3  # changed" and finding["in_change"] is True
    assert finding["check"] == "confirmed" and finding["end_line"] == 10 and finding["suggestion"] == "Add 3 again."
    assert out["summary"] == "The change flips a sign in step_3." and "[high] src/service.py:10" in out["_text"]
    assert [s["name"] for s in out["steps"]] == ["read_file", "report_finding"]


async def test_refuted_findings_are_not_reported_and_invented_files_and_lines_are_dropped(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    deepseek.agent = reviewer([report(REAL), report(INVENTED_FILE)], [report(INVENTED_LINE), report(NIT)])
    deepseek.checker = Checker({"Name is vague": (False, "Only taste.")})
    out = await run_review(deepseek, repo)
    assert [f["title"] for f in out["findings"]] == ["step_3 subtracts"]
    assert [(r["title"], r["reason"]) for r in out["refuted"]] == [("Name is vague", "Only taste.")]
    dropped = {d["path"]: d["reason"] for d in out["dropped"]}
    assert "does not exist" in dropped["src/nowhere.py"] and "src/service.py has 30 lines" in dropped["src/service.py"]
    assert sorted(deepseek.checker.checked) == ["Name is vague", "step_3 subtracts"]  # dropped ones are never checked
    assert "1 refuted" in out["_text"] and "2 dropped" in out["_text"]


async def test_the_reviewer_is_told_when_a_finding_is_dropped_so_it_can_correct_it(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    deepseek.agent = reviewer([report(INVENTED_LINE)])
    deepseek.checker = Checker()
    await run_review(deepseek, repo)
    second: dict[str, Any] = deepseek.chat_requests()[1].json
    tool_message = next(m for m in second["messages"] if m["role"] == "tool")
    assert tool_message["content"].startswith("Dropped: lines 999-999 do not exist")


async def test_a_secret_in_the_change_never_reaches_the_provider(deepseek: FakeUpstream, tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    probe = {**REAL, "path": "src/config.py", "line": 2, "title": "Token"}
    deepseek.agent = reviewer([Call("read_file", {"path": "src/config.py"}), Call("read_file", {"path": ".env"})])
    deepseek.agent.turns.append(Turn(calls=[report(probe), report(REAL)]))
    deepseek.checker = Checker()
    out = await run_review(deepseek, repo)
    sent = b"".join(r.body for r in deepseek.chat_requests())
    assert GITHUB_TOKEN.encode() not in sent and ENV_LINE.encode() not in sent
    assert b"hunter2" not in sent and json.dumps(out).find(GITHUB_TOKEN) == -1
    assert {s["path"] for s in out["skipped"]} >= {".env", "src/config.py"}
    assert any(d["path"] == "src/config.py" for d in out["dropped"])  # its text was withheld: nothing to anchor to


async def test_checks_share_one_prefix_and_are_offered_the_read_only_functions_and_the_verdict(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    many = [report({**REAL, "line": n, "title": f"Finding {n}"}) for n in range(1, 7)]
    deepseek.agent = reviewer(many)
    deepseek.checker = Checker()
    out = await run_review(deepseek, repo)
    checks = [r.json for r in deepseek.chat_requests() if _offered(r.json)[-1] == "verdict"]
    assert len(checks) == 6 and len(out["findings"]) == 6
    assert all(_offered(c) == ["list_dir", "glob", "grep", "read_file", "verdict"] for c in checks)
    assert all(c["messages"][0] == checks[0]["messages"][0] and c["tools"] == checks[0]["tools"] for c in checks)
    assert out["usage"]["prompt_tokens"] > 0 and PARALLEL == 4


def _offered(request: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in request.get("tools", [])]


async def test_findings_are_sorted_by_severity_then_path(deepseek: FakeUpstream, tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    low = {**REAL, "severity": "low", "title": "Low one"}
    other = {**REAL, "path": "src/fresh.py", "line": 2, "title": "Fresh"}
    deepseek.agent = reviewer([report(low), report(other), report(REAL)])
    deepseek.checker = Checker()
    out = await run_review(deepseek, repo)
    assert [(f["severity"], f["path"]) for f in out["findings"]] == [
        ("high", "src/fresh.py"),
        ("high", "src/service.py"),
        ("low", "src/service.py"),
    ]


async def test_a_malformed_finding_is_refused_with_what_to_fix(deepseek: FakeUpstream, tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    deepseek.agent = reviewer([report({**REAL, "severity": "critical"})])
    deepseek.checker = Checker()
    out = await run_review(deepseek, repo)
    assert out["findings"] == [] and out["steps"][0]["outcome"].startswith("refused: `severity` must be")


async def test_a_folder_that_is_no_repository_gets_a_clear_error(deepseek: FakeUpstream, tmp_path: Path) -> None:
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("review", {"path": str(tmp_path)})
    assert result.is_error and "is not inside a git repository" in getattr(result.content[0], "text", "")
    assert deepseek.chat_requests() == []


async def test_a_review_without_path_names_the_real_folder_it_looked_in(
    deepseek: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "not-a-repo"
    folder.mkdir()
    monkeypatch.chdir(folder)
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("review", {})
    text = getattr(result.content[0], "text", "")
    assert result.is_error and f"the server's working directory, {folder.resolve()} (no `path` given)" in text
    assert "is not inside a git repository" in text and ". is not" not in text


async def test_progress_names_each_phase_gathering_reviewing_and_checking(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    deepseek.agent = reviewer([Call("grep", {"pattern": "def step_3"})], [report(REAL), report(NIT)])
    deepseek.checker = Checker({"Name is vague": (False, "Taste.")})
    events: list[tuple[float, str]] = []
    totals: list[float | None] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        if "waiting for the model" not in (message or ""):  # a heartbeat, should a turn take seconds
            events.append((value, message or ""))
            totals.append(total)

    async with connect(make_settings(deepseek)) as client:
        with anyio.fail_after(30):
            result = await client.call_tool("review", {"path": str(repo)}, progress_callback=on_progress)
    assert not result.is_error
    messages = [m for _, m in events]
    assert messages[0] == "review: gathering the change from git"
    assert messages[1].startswith("review: step 1: grep 'def step_3' — 1 match")
    assert messages[2].startswith("review: step 2: report_finding") and len(messages) == 5  # 2 steps, 2 checks
    checked = {m.split(": ", 2)[2] for m in messages[3:]}  # checks run in parallel: either may end first
    assert checked == {"step_3 subtracts — holds", "Name is vague — refuted"}
    assert any(m.startswith("review: checked 2 of 2:") for m in messages)
    values = [v for v, _ in events]
    assert values == sorted(values) and len(set(values)) == len(values)
    assert totals[-1] == values[-1] == 5  # the total is what ran: 3 review turns and 2 checks


async def test_over_http_a_review_without_path_is_refused_before_anything_is_read(deepseek: FakeUpstream) -> None:
    settings = make_settings(deepseek, serves_http=True)
    async with connect(settings) as client:
        result = await client.call_tool("review", {})
    assert result.is_error and "over HTTP, pass `path`" in getattr(result.content[0], "text", "")


async def test_a_check_that_gives_no_verdict_drops_its_finding_with_a_notice(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    deepseek.agent = reviewer([report(REAL), report(NIT)])
    deepseek.checker = Checker({"Name is vague": None})
    out = await run_review(deepseek, repo)
    assert [f["title"] for f in out["findings"]] == ["step_3 subtracts"]
    assert [(d["title"], d["reason"]) for d in out["dropped"]] == [("Name is vague", "its check gave no verdict")]
    assert "1 of 2 findings could not be checked" in " ".join(out["notices"])


async def test_a_reviewer_that_never_stops_is_stopped_at_max_steps_and_its_findings_are_still_checked(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    deepseek.agent = Script(turns=[Turn(calls=[report(REAL)])], repeat=True, final="Stopped early.")
    deepseek.checker = Checker()
    out = await run_review(deepseek, repo, max_steps=3)
    assert len(out["steps"]) == 3 and [s["outcome"] for s in out["steps"]][1:] == ["a duplicate", "a duplicate"]
    assert [f["title"] for f in out["findings"]] == ["step_3 subtracts"] and out["summary"] == "Stopped early."
    assert any("max_steps (3 function calls)" in n for n in out["notices"])


async def test_cancelling_during_the_checks_stops_every_check(deepseek: FakeUpstream, tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    deepseek.agent = reviewer([report({**REAL, "line": n, "title": f"F{n}"}) for n in range(1, 7)])
    deepseek.checker = Checker(latency=3.0)

    def checking(fake: FakeUpstream) -> bool:
        return sum(_offered(r.json)[-1:] == ["verdict"] for r in fake.chat_requests()) >= PARALLEL

    async with connect(make_settings(deepseek)) as client:
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.call_tool, "review", {"path": str(repo)})
            assert await anyio.to_thread.run_sync(lambda: deepseek.wait_for(checking, 10.0))
            tg.cancel_scope.cancel()
        checks = [r for r in deepseek.chat_requests() if _offered(r.json)[-1:] == ["verdict"]]
        assert await anyio.to_thread.run_sync(
            lambda: deepseek.wait_for(lambda f: all(r.client_disconnected for r in checks), 3.0)
        )
    assert len(checks) == PARALLEL  # the other two never started


async def test_every_model_request_of_a_review_and_its_checks_is_counted_against_the_callers_spending(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    deepseek.agent = reviewer([report(REAL), report(NIT)])
    deepseek.checker = Checker({"Name is vague": (False, "Only taste.")})
    async with connect(make_settings(deepseek)) as client:
        with anyio.fail_after(30):
            result = await client.call_tool("review", {"path": str(repo)})
            balance = await client.call_tool("balance", {})
    assert not result.is_error and balance.structured_content is not None
    spent = balance.structured_content["spent"]["today"]["by_tool"]["review"]
    # Two reviewer turns (the findings, then the summary) and one check per finding, each priced and recorded.
    assert spent["calls"] == len(deepseek.chat_requests()) == 4 and spent["usd"] > 0
