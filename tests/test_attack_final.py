"""Final attack round: spending limits, delegate's patch, redaction and bounds, each on the tool's own path against
the fake upstream (tests/fake_upstream.py) through a real MCP client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from mcp_server.core.config import MAX_COST_ENV
from mcp_server.spending import pricing
from mcp_server.upstream.completion import Usage
from tests.conftest import DEEPSEEK_KEY, connect, make_settings
from tests.fake.agent import Call, Script, Turn
from tests.fake.review import Checker
from tests.fake_upstream import FakeUpstream, Reply
from tests.gitrepos import make_repo
from tests.stalls import longest_stall

pytestmark = pytest.mark.anyio


def _per_token(model: str = "deepseek-flash") -> float:
    """USD of one output token now (peak or off-peak), as the server prices it."""
    cost = pricing.estimate("deepseek", model, Usage(completion_tokens=1_000_000))
    assert cost is not None
    return cost.usd / 1_000_000


def _finding(line: int) -> Call:
    args = {"path": "src/service.py", "line": 10, "severity": "high", "title": f"problem {line}", "detail": "Wrong."}
    return Call("report_finding", args)


async def test_checks_that_fail_mid_stream_count_against_the_per_call_limit_of_the_checks_after_them(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path)
    limit = 200_000 * _per_token()  # about three checks held at DeepSeek's 64K default for thinking
    with FakeUpstream("deepseek", api_key=DEEPSEEK_KEY) as fake:
        fake.agent = Script([Turn(calls=[_finding(line) for line in range(1, 9)])], final="Eight problems.")
        fake.checker = Checker()
        # The reviewer's two turns answer; every check then breaks after its first pieces arrived (sent, maybe
        # billed: recorded at its hold, as budgets.py says).
        fake.script(Reply(), Reply(), *[Reply(drop_after_chunks=3)] * 8)
        settings = make_settings(fake, env={MAX_COST_ENV: f"{limit:.10f}"})
        async with connect(settings) as client:
            with anyio.fail_after(60):
                result = await client.call_tool("review", {"path": str(repo)})
                shown = await client.call_tool("balance", {})
    assert not result.is_error, result.content
    today: dict[str, Any] = (shown.structured_content or {})["spent"]["today"]
    # Before: a check that failed was recorded at its hold but never counted in the pool the parallel checks share,
    # so the next four were each held at what was left of the whole limit again: eight checks recorded twice the limit.
    assert today["usd"] <= limit * 1.0001, (today["usd"] / limit, len(fake.chat_requests()))


async def _investigated(fake: FakeUpstream, folder: Path, limit: float) -> dict[str, Any]:
    """Today's spending after one investigate call of `fake`'s script on `folder` under a per-call `limit`."""
    async with connect(make_settings(fake, env={MAX_COST_ENV: f"{limit:.10f}"})) as client:
        with anyio.fail_after(60):
            result = await client.call_tool("investigate", {"question": "Why?", "paths": [str(folder)]})
            shown = await client.call_tool("balance", {})
    assert not result.is_error, result.content
    today: dict[str, Any] = (shown.structured_content or {})["spent"]["today"]
    return today


async def test_the_final_answer_of_a_loop_stopped_by_the_per_call_limit_is_held_within_what_the_limit_left(
    tmp_path: Path,
) -> None:
    (tmp_path / "app.py").write_text("def answer() -> int:\n    return 42\n")
    limit = 100_000 * _per_token()
    with FakeUpstream("deepseek", api_key=DEEPSEEK_KEY) as fake:
        # Each turn writes no more than the max_tokens its request carries (the fake stops it there, as DeepSeek
        # does): 60,000 tokens of text and a function call, which leave no room for another turn; then a long answer.
        fake.agent = Script([Turn([Call("list_dir", {"path": "."})], content="hmm " * 60_000)], final="word " * 60_000)
        today = await _investigated(fake, tmp_path, limit)
    # Before: the final turn was held on its own, as if nothing had been spent, so its answer was allowed the whole
    # limit again after the turn before it had used 60% of it: the call cost 1.2 times the limit.
    assert today["usd"] <= limit * 1.0001, today["usd"] / limit


async def test_the_thinking_and_calls_a_loop_sends_back_are_counted_in_the_prompt_it_is_held_at(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("def answer() -> int:\n    return 42\n")
    limit = 100_000 * _per_token()
    with FakeUpstream("deepseek", api_key=DEEPSEEK_KEY) as fake:
        # Thinking, every turn carries its reasoning back (and its calls' arguments): the next prompt bills them.
        fake.agent = Script(
            [
                Turn([Call("list_dir", {"path": "."})], reasoning="hmm " * 60_000),
                Turn([Call("read_file", {"path": "app.py"})], reasoning="hmm " * 20_000),
            ],
            final="word " * 60_000,
        )
        today = await _investigated(fake, tmp_path, limit)
    # Before: a prompt was estimated from the messages' `content` alone, so 80,000 tokens of reasoning sent back
    # were held at nothing and the call cost 1.05 times the limit.
    assert today["usd"] <= limit * 1.0001, today["usd"] / limit


async def test_the_patch_of_one_line_changed_in_a_file_of_repeated_lines_is_made_in_time(tmp_path: Path) -> None:
    from tests.delegate_project import make_project, settings_for
    from tests.fake.agent import edit

    project = make_project(tmp_path)
    # A hostile repository's 60 KB file: one line among 20,000 equal ones (blank lines, a data file's zeros).
    (project / "data.txt").write_text("0\n" * 10_000 + "MIDDLE\n" + "0\n" * 10_000)
    with FakeUpstream("deepseek", api_key=DEEPSEEK_KEY) as fake:
        fake.agent = Script([Turn([edit("data.txt", "MIDDLE\n", "1\n")])], final="Changed.")
        async with connect(settings_for(fake, command=None)) as client:
            # Before: difflib, with every line a candidate match for every other, took 54 s on this file (the time
            # grows with the square of the lines: a 1 MiB file of them, hours of a worker thread) and the call's
            # deadline left that thread running.
            with anyio.fail_after(15):
                result = await client.call_tool("delegate", {"task": "set it", "paths": [str(project)]})
    out = result.structured_content
    assert not result.is_error and out is not None, result.content
    assert "-MIDDLE\n+1\n" in out["patch"] and out["verification"]["applies"] is True, out["patch"][:500]


async def test_a_call_sent_just_before_peak_hours_and_answered_in_them_stays_within_the_per_call_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import UTC, datetime

    moment = [datetime(2026, 12, 7, 0, 59, 0, tzinfo=UTC)]  # a Monday, a minute before DeepSeek's peak prices

    class Clock(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return moment[0]

    off_peak = pricing.estimate("deepseek", "deepseek-flash", Usage(completion_tokens=6000), at=moment[0])
    assert off_peak is not None
    limit = off_peak.usd  # 6,000 tokens of answer off-peak, 3,000 at peak
    monkeypatch.setattr(pricing, "datetime", Clock)
    with FakeUpstream("deepseek", api_key=DEEPSEEK_KEY) as fake:
        fake.script(Reply(content="word " * 8000, stall_before_headers=1.0))
        settings = make_settings(fake, env={MAX_COST_ENV: f"{limit:.10f}"})
        async with connect(settings) as client:
            results: list[Any] = []

            async def chat() -> None:
                results.append(await client.call_tool("chat", {"prompt": "Tell me everything."}))

            with anyio.fail_after(30):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(chat)
                    assert await anyio.to_thread.run_sync(fake.wait_for, lambda f: bool(f.chat_requests()))
                    moment[0] = datetime(2026, 12, 7, 1, 0, 30, tzinfo=UTC)  # the answer arrives at peak
                shown = await client.call_tool("balance", {})
    assert not results[0].is_error, results[0].content
    today: dict[str, Any] = (shown.structured_content or {})["spent"]["today"]
    # Before: held (and its max_tokens cut) at the off-peak price of when it was sent, charged at the peak price of
    # when it was answered: twice the limit.
    assert today["usd"] <= limit * 1.0001, today["usd"] / limit


async def test_a_delegated_edit_of_a_large_file_that_wakes_every_rule_leaves_other_calls_running(
    tmp_path: Path,
) -> None:

    from tests.delegate_project import make_project, settings_for
    from tests.fake.agent import edit
    from tests.test_attack_round3_keys import _every_keyword

    project = make_project(tmp_path)
    text = _every_keyword(900_000)
    (project / "notes.txt").write_text("first line\n" + text)
    with FakeUpstream("deepseek", api_key=DEEPSEEK_KEY) as fake:
        fake.agent = Script(
            [Turn([edit("notes.txt", "first line\n", "line 0\n")])]
            + [Turn([edit("notes.txt", f"line {i}\n", f"line {i + 1}\n")]) for i in range(3)],
            final="Edited.",
        )
        async with connect(settings_for(fake, command=None)) as client:
            result, stall = await longest_stall(
                client, lambda: client.call_tool("delegate", {"task": "edit", "paths": [str(project)]})
            )
    assert not result.is_error, result.content
    assert "+line 3" in (result.structured_content or {})["patch"]
    # Before: each edit read, scanned and scanned again (its new text) 900 KB on the event loop, where every rule
    # woken runs at about 1 MB/s: no other call of any token was answered meanwhile.
    assert stall < 0.5, stall


async def test_deletions_count_against_the_files_one_delegated_task_may_change(tmp_path: Path) -> None:
    from mcp_server.delegate.edits import MAX_CHANGED
    from tests.delegate_project import make_project, settings_for
    from tests.fake.agent import delete

    project = make_project(tmp_path)
    for i in range(120):
        (project / f"f{i:03d}.txt").write_text(f"file {i}\n")
    with FakeUpstream("deepseek", api_key=DEEPSEEK_KEY) as fake:
        async with connect(settings_for(fake, command=None)) as client:
            fake.agent = Script([Turn([delete(f"f{i:03d}.txt") for i in range(60)])], final="Deleted.")
            with anyio.fail_after(60):
                first = await client.call_tool("delegate", {"task": "clean", "paths": [str(project)], "max_steps": 60})
            conversation = (first.structured_content or {})["conversation_id"]
            fake.agent = Script([Turn([delete(f"f{i:03d}.txt") for i in range(60, 120)])], final="Deleted more.")
            with anyio.fail_after(60):
                second = await client.call_tool(
                    "delegate",
                    {"task": "more", "paths": [str(project)], "max_steps": 60, "conversation_id": conversation},
                )
    out = second.structured_content
    assert not second.is_error and out is not None, second.content
    # Before: delete_file never counted against MAX_CHANGED (edits and new files do), so a follow-up that starts from
    # the earlier change carried 120 deleted files.
    assert len(out["files"]) <= MAX_CHANGED, len(out["files"])


async def test_path_completion_lists_nothing_inside_a_place_where_keys_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcp.types import PromptReference

    store = tmp_path / ".password-store"
    (store / "bank.example.com").mkdir(parents=True)
    (store / "scan.pdf").write_bytes(b"x")
    (tmp_path / "scans").mkdir()
    (tmp_path / "scans" / "scan.pdf").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    with FakeUpstream("deepseek", api_key=DEEPSEEK_KEY) as fake:
        async with connect(make_settings(fake)) as client:
            prompt = PromptReference(type="ref/prompt", name="document_to_markdown")
            inside = await client.complete(prompt, {"name": "source", "value": ".password-store/"})
            beside = await client.complete(prompt, {"name": "source", "value": "scans/"})
    assert beside.completion.values == ["scans/scan.pdf"]
    # Before: the names in a password store (a folder per account) were listed to whoever asked for completions;
    # every reader of local files keeps out of such a place (mcp_server/policy/places.py).
    assert inside.completion.values == [], inside.completion.values


@pytest.mark.parametrize("name", [".e\u200cnv", ".g\u200dit/config", "id_r\ufeffsa"], ids=["env", "git", "ssh key"])
async def test_a_new_file_named_like_a_secret_or_git_on_an_hfs_host_that_ignores_some_code_points_is_refused(
    tmp_path: Path, name: str
) -> None:
    from tests.delegate_project import make_project, settings_for
    from tests.fake.agent import create

    project = make_project(tmp_path)
    with FakeUpstream("deepseek", api_key=DEEPSEEK_KEY) as fake:
        fake.agent = Script([Turn([create(name, "DEBUG=1\n")])], final="Done.")
        async with connect(settings_for(fake, command=None)) as client:
            with anyio.fail_after(30):
                result = await client.call_tool("delegate", {"task": "configure", "paths": [str(project)]})
    out = result.structured_content
    assert not result.is_error and out is not None, result.content
    # HFS+ ignores zero-width joiners, direction marks and the byte-order mark in names (git's is_hfs_dotgit knows
    # them): before, the patch carried `.e\u200cnv`, which a Mac applying it opens as `.env`.
    assert out["files"] == [] and out["patch"] == "", out["patch"][:300]
