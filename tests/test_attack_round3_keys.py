"""Round 3 attack on the keys: every channel through which a caller could still learn a character of a key, on the
tools' own paths (tests/oracle.py holds the attackers)."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import PromptReference
from pydantic import SecretStr

from mcp_server import server as server_module
from mcp_server.core.config import CONTEXT_ENV, DAILY_BUDGET_ENV, MAX_COST_ENV, Settings
from mcp_server.policy import scan
from mcp_server.policy.redaction import Redactor
from mcp_server.policy.scan import Scanner
from mcp_server.server import build_server
from mcp_server.serving import protocol
from mcp_server.spending import pricing
from mcp_server.tools.web import MAX_PAGE_CHARS
from mcp_server.upstream.completion import Usage
from tests.conftest import make_settings
from tests.fake.agent import Call, Script, Turn
from tests.fake_upstream import FakeUpstream, Reply
from tests.gitrepos import git, write
from tests.oracle import ATLAS_KEY, CHANNELS, DEEPSEEK_KEY, Attacker, repeated, shuffled, slower
from tests.samples import blank_pdf
from tests.stalls import longest_stall
from tests.test_thread_shares import ALICE, BOB, POOL, _client, _http, _shares, _until

pytestmark = pytest.mark.anyio
BODY = DEEPSEEK_KEY[3:]


@asynccontextmanager
async def _served(settings: Settings) -> AsyncIterator[tuple[Client, Redactor]]:
    async with Client(build_server(settings)) as client:  # type: ignore[arg-type]
        yield client, client.server.redact  # type: ignore[attr-defined]  # what every result passes


async def _fetched(client: Client, fake: FakeUpstream, page: str) -> str:
    """A page the caller serves, as web_fetch returns it."""
    fake.script(Reply(content=page))
    with anyio.fail_after(30):
        result = await client.call_tool("web_fetch", {"url": "https://attacker.example/page"})
    return str(result.content[0].text)  # type: ignore[union-attr]


# Guesses a caller can make the server echo: the first 15 characters of a window of the body (one short of what is
# replaced), and `sk-` with them and the key's last character where a whole key would have them.
SHAPES = {
    "15 characters of a window": BODY[:15],
    "a whole key's head and last character": f"sk-{BODY[:15]}{'x' * 16}{DEEPSEEK_KEY[-1]}",
}


@pytest.mark.parametrize("keys", [(DEEPSEEK_KEY,), (DEEPSEEK_KEY, ATLAS_KEY)], ids=["one key", "two keys"])
@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
async def test_redacting_an_echo_takes_as_long_whatever_part_of_a_key_its_guesses_hold(
    shape: str, keys: tuple[str, ...]
) -> None:
    near = SHAPES[shape]
    far = near.replace(BODY[:15], shuffled(BODY[:15]))
    with FakeUpstream("deepseek", api_key=keys[0]) as fake, FakeUpstream("atlas", api_key=keys[-1]) as atlas:
        settings = make_settings(fake, atlas if len(keys) > 1 else None)
        async with _served(settings) as (client, redact):
            page = (near + " ") * (MAX_PAGE_CHARS // (len(near) + 1))
            assert page in await _fetched(client, fake, page)  # echoed whole: it holds no window of a key
            # Python's `re` on a trie of the windows compared a character more at each position for each character
            # a guess shared with a key: 1.2 to 1.4 times slower here. RE2 takes one step a byte whatever it matched.
            assert slower(redact, repeated(near), repeated(far)) < 1.08


# A token (or a Redis password) with characters outside ASCII: Python prints its UTF-8 bytes escaped, `\xc3\xb6`.
TOKEN = "Grüße-aus-Köln-7391"


async def test_a_secret_printed_with_escapes_teaches_no_character_of_its_hidden_end() -> None:
    web_page = next(channel for channel in CHANNELS if channel.name.startswith("web_fetch"))
    nothing = Redactor(())
    with FakeUpstream("deepseek", api_key=DEEPSEEK_KEY) as fake:
        settings = dataclasses.replace(make_settings(fake), http_tokens=(SecretStr(TOKEN),))
        async with _served(settings) as (client, redact):
            assert redact(repr(TOKEN.encode())) == "b'[redacted]'"  # the escaped spelling is a spelling of it

            async def echo(text: str) -> str:
                with anyio.fail_after(30):
                    return await web_page.through_tool(client, fake, text)

            # "Köln-" is its public head; "7391" is too short to be replaced unless whole. Windows taken from the
            # escaped spelling as it is (`\xb6ln-7391`, ten characters) gave the digits away in 59 calls.
            attacker = Attacker(echo, lambda text: web_page.in_process(nothing, nothing, text), web_page.room, 80)
            assert await attacker.run("\\xb6ln-", "0123456789") == "\\xb6ln-" and not attacker.grown, attacker.grown


SOURCE = Path(server_module.__file__).read_text()  # neutral code, a MiB of it scanned


async def test_scanning_a_text_takes_as_long_whatever_part_of_a_key_it_holds() -> None:
    # What every reader builds from the settings (files, investigate, review, delegate's reads, edits and check).
    scanner = Scanner.of(make_settings(env={"DEEPSEEK_API_KEY": DEEPSEEK_KEY}).secrets)
    code = (SOURCE * (2**20 // len(SOURCE) + 1))[: 2**20]
    # `sk-` and 9 hex digits (36 bits) woke the check for a key split across literals, which joins them in a pass of
    # its own: twice the time of the same text with the digits shuffled, and one more digit a few guesses each.
    near, far = f"{DEEPSEEK_KEY[:12]}\n{code}", f"sk-{shuffled(DEEPSEEK_KEY[3:12])}\n{code}"
    assert scanner.find(near) is None and scanner.find(far) is None
    assert slower(scanner.find, near, far) < 1.15
    split = f"KEY = ('{DEEPSEEK_KEY[:14]}'\n       '{DEEPSEEK_KEY[14:]}')\n"
    assert scanner.finding(split) == "this server's own API key or token (split across strings)"  # still found


# Part of a key, as a model could have read it in a log that cut it (24 of its 32 hex digits: a file holding the
# whole key is refused, one holding a piece is not).
PIECE = BODY[:24]


async def test_progress_never_carries_a_piece_of_a_key_the_model_repeats(tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text(f"auth with {DEEPSEEK_KEY[:27]}… failed\n")
    messages: list[str] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    with FakeUpstream("deepseek", api_key=DEEPSEEK_KEY) as fake:
        fake.agent = Script([Turn([Call("grep", {"pattern": PIECE})])], final="It is in app.log:1.")
        async with _served(make_settings(fake)) as (client, _):
            with anyio.fail_after(30):
                result = await client.call_tool(
                    "investigate", {"question": "why?", "paths": [str(tmp_path)]}, progress_callback=on_progress
                )
    assert not result.is_error and PIECE not in json.dumps(result.structured_content)  # the result was redacted
    # The step's message quotes the model's pattern (60 characters): it went out as the model wrote it.
    assert any(message.startswith("investigate: step 1: grep '[redacted]'") for message in messages), messages
    assert not any(BODY[i : i + 16] in message for message in messages for i in range(9))


async def test_the_further_pages_of_an_ocr_result_are_redacted_as_its_first_ones(tmp_path: Path) -> None:
    (tmp_path / "scan.pdf").write_bytes(blank_pdf(72, 72, pages=40))
    page = json.dumps(f"the key was {DEEPSEEK_KEY[:27]}\n" + "Line of the recognised text.\n" * 100)
    pages = ",".join(f'{{"index":{i},"text":{page},"finish_reason":"stop"}}' for i in range(40))
    usage = '{"input_tokens":10240,"output_tokens":4000,"total_tokens":0}'
    body = f'{{"object":"ocr.result","page_count":40,"pages":[{pages}],"usage":{usage}}}'.encode()
    with FakeUpstream("deepseek", api_key=DEEPSEEK_KEY) as fake:
        fake.script(Reply(path="/v1/tools/ocr", body=body, content_type="application/json"))
        async with _served(make_settings(fake)) as (client, _):
            with anyio.fail_after(60):
                result = await client.call_tool("ocr", {"source": str(tmp_path / "scan.pdf")})
                out = result.structured_content
                assert out is not None and out["parts"], result.content
                assert PIECE not in json.dumps(out)  # the pages inline
                part = await client.read_resource(out["parts_uri"].format(part=1))
    text = part.contents[0].text  # type: ignore[union-attr]
    assert "the key was sk-[redacted]" in text and PIECE not in text


async def _investigated(client: Client, fake: FakeUpstream, folder: Path, answer: str) -> float:
    """Seconds an investigate call takes whose model answers `answer` at once."""
    fake.agent = Script([], final=answer)
    started = time.perf_counter()
    with anyio.fail_after(120):
        result = await client.call_tool("investigate", {"question": "where?", "paths": [str(folder)]})
    assert not result.is_error, result.content
    return time.perf_counter() - started


async def test_a_huge_answer_of_citations_is_checked_in_time_that_does_not_grow_with_it(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    # Each citation was compared with every link before it, and each claim with every citation before it: a
    # 160 KB answer took 63 s in a worker thread that no cancel stops, holding the caller's share of threads.
    unit = "see [a](a.py#L1) and a.py:1 "
    with FakeUpstream("deepseek", api_key=DEEPSEEK_KEY) as fake:
        async with _served(make_settings(fake)) as (client, _):
            await _investigated(client, fake, tmp_path, unit * 10)  # warm: imports, the first walk
            small = await _investigated(client, fake, tmp_path, unit * 500)
            large = await _investigated(client, fake, tmp_path, unit * 4000)
    assert large < 16 * small + 0.5, (small, large)  # 8 times the answer: linear, not 64 times


def _many_changes(root: Path, files: int) -> Path:
    """A repository whose every file is changed in the middle of each of its 20 long functions: the hunks in their
    scopes come to six times the plain diff."""
    repo = root / f"repo{files}"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    lines = "".join(f"    x{k} = x + {k}\n" for k in range(60))
    body = "".join(f"def f{n}(x):\n{lines}    return x\n\n" for n in range(20))
    write(repo, {f"m{i}.py": body for i in range(files)})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    write(repo, {f"m{i}.py": body.replace("    x30 = x + 30\n", "    x30 = x - 30\n") for i in range(files)})
    return repo


async def test_a_review_over_its_token_budget_takes_time_linear_in_its_files_and_leaves_other_calls_running(
    tmp_path: Path,
) -> None:
    small, large = _many_changes(tmp_path, 30), _many_changes(tmp_path, 120)
    taken: dict[Path, float] = {}
    stalls: list[float] = []
    with FakeUpstream("deepseek", api_key=DEEPSEEK_KEY) as fake:
        # An operator's small budget: the code around the hunks goes, file by file, largest first.
        settings = make_settings(fake, env={CONTEXT_ENV: "150000"})
        async with _served(settings) as (client, _):

            async def review(repo: Path) -> None:
                fake.agent = Script([], final="Nothing to report.")
                started = time.perf_counter()
                with anyio.fail_after(120):
                    result = await client.call_tool("review", {"path": str(repo)})
                assert not result.is_error, result.content
                taken[repo] = time.perf_counter() - started

            async def tick() -> None:
                last = time.perf_counter()
                while large not in taken:
                    await client.call_tool("list_models", {})
                    now = time.perf_counter()
                    stalls.append(now - last)
                    last = now

            await review(small)
            async with anyio.create_task_group() as tg:
                tg.start_soon(review, large)
                tg.start_soon(tick)
    # Each file dropped rendered the whole block again (quadratic: 16 times for 4 times the files), on the event
    # loop, where no other call ran meanwhile.
    assert taken[large] < 8 * taken[small] + 1, taken
    assert max(stalls) < max(1.0, taken[large] / 4), (max(stalls), taken)


@pytest.mark.parametrize(("tool", "argument"), [("chat", "files"), ("investigate", "paths"), ("delegate", "paths")])
async def test_a_list_argument_of_a_million_items_is_refused_by_its_length_alone(tool: str, argument: str) -> None:
    # Each item was validated and its error kept: pydantic's message (170 MB for a million, which the SDK builds)
    # and the list of errors the one voice reads, 5.9 s and 1.2 GB for a 2 MB request.
    base = {"prompt": "hi"} if tool == "chat" else {"question": "q"} if tool == "investigate" else {"task": "t"}
    with FakeUpstream("deepseek", api_key=DEEPSEEK_KEY) as fake:
        async with _served(make_settings(fake)) as (client, _):
            times = []
            for items in (1_000, 1_000_000):
                started = time.perf_counter()
                with anyio.fail_after(60):
                    result = await client.call_tool(tool, {**base, argument: [0] * items})
                times.append(time.perf_counter() - started)
                said = result.content[0].text  # type: ignore[union-attr]
                assert result.is_error and f"`{argument}` has {items} items" in said and "at most 100" in said, said
    assert times[1] < 20 * times[0] + 0.5, times


async def test_one_tokens_completion_requests_leave_threads_for_another_tokens_files_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "notes.py").write_text("print('bob reads this')\n")
    release, held, lock = threading.Event(), [0], threading.Lock()
    real = protocol._document_paths

    def stuck(prefix: str, files: Any) -> list[str]:  # a listing of a hung network folder
        with lock:
            held[0] += 1
        release.wait(60)
        return real(prefix, files)

    monkeypatch.setattr(protocol, "_document_paths", stuck)
    monkeypatch.setattr(protocol, "LISTING_SECONDS", 60.0)
    shares = _shares(monkeypatch)
    waiting = lambda: sum(s.statistics().tasks_waiting for s in shares.values())  # noqa: E731
    reference = PromptReference(type="ref/prompt", name="document_to_markdown")
    with FakeUpstream("deepseek", api_key=DEEPSEEK_KEY) as fake:
        settings = make_settings(fake, env={"DEEPSEEK_MCP_FILE_ROOTS": str(tmp_path)})
        notes = str(tmp_path / "notes.py")
        with anyio.fail_after(60):
            async with (
                _http(settings) as url,
                _client(url, ALICE) as alice,
                _client(url, BOB) as bob,
                anyio.create_task_group() as tg,
            ):
                for _ in range(POOL):
                    tg.start_soon(alice.complete, reference, {"name": "source", "value": f"{tmp_path}/"})
                # Settled: every thread of the pool is Alice's, or she holds her share and waits for it.
                await _until(lambda: held[0] == POOL or (held[0] == 8 and waiting() == POOL - 8))
                taken = held[0]
                try:
                    with anyio.fail_after(15):
                        read = await bob.call_tool("chat", {"prompt": "Sum up.", "files": [notes]})
                finally:
                    release.set()
    assert taken == 8, "one token's completion requests took more than its share of the worker threads"
    assert not read.is_error and "bob reads this" in fake.chat_requests()[-1].body.decode()


def _per_token(model: str = "deepseek-flash") -> float:
    """USD of one output token now (peak or off-peak), as the server prices it."""
    cost = pricing.estimate("deepseek", model, Usage(completion_tokens=1_000_000))
    assert cost is not None
    return cost.usd / 1_000_000


async def test_a_call_never_costs_more_than_the_per_call_limit_whatever_the_answer_runs_to() -> None:
    limit = 6000 * _per_token()  # more than the estimate (4,096 tokens of answer), less than DeepSeek's 8K default
    with FakeUpstream("deepseek", api_key=DEEPSEEK_KEY) as fake:
        fake.script(Reply(content="word " * 8000))  # a long answer, within the default max_tokens
        settings = make_settings(fake, env={MAX_COST_ENV: f"{limit:.10f}"})
        async with _served(settings) as (client, _):
            with anyio.fail_after(30):
                result = await client.call_tool("chat", {"prompt": "Tell me everything."})
    out = result.structured_content
    assert not result.is_error and out is not None, result.content
    # Held at its estimate, sent with no max_tokens, the answer ran to 8,000 tokens: 1.3 times the limit.
    assert out["cost"]["usd"] <= limit, (out["cost"], limit)
    sent = fake.chat_requests()[-1].json["max_tokens"]
    assert out["usage"]["completion_tokens"] == sent and out["finish_reason"] == "length"
    assert any(MAX_COST_ENV in notice and f"{sent:,} tokens" in notice for notice in out["notices"]), out["notices"]


async def test_concurrent_reasoning_calls_spend_no_more_than_the_daily_budget() -> None:
    budget = 150_000 * _per_token()
    results: list[Any] = []
    with FakeUpstream("deepseek", api_key=DEEPSEEK_KEY) as fake:
        # Each thinks 50,000 tokens and answers 10,000: within DeepSeek's 64K default for thinking.
        fake.script(*[Reply(reasoning="hmm " * 50_000, content="yes " * 10_000, stall_before_headers=1.0)] * 9)
        settings = make_settings(fake, env={DAILY_BUDGET_ENV: f"{budget:.10f}"})
        async with _served(settings) as (client, _):

            async def reason() -> None:
                results.append(await client.call_tool("reason", {"prompt": "Think hard."}))

            with anyio.fail_after(60):
                async with anyio.create_task_group() as tg:
                    for _ in range(9):
                        tg.start_soon(reason)
            spent = await client.call_tool("balance", {})
    done = [r.structured_content for r in results if not r.is_error]
    refused = [r for r in results if r.is_error]
    assert done and all("daily budget" in r.content[0].text for r in refused)  # type: ignore[union-attr]
    # Each was held at 16,384 tokens of output: nine went at once, and cost 3.6 times the day's budget.
    assert sum(out["cost"]["usd"] for out in done if out) <= budget, (len(done), budget)
    assert spent.structured_content is not None


def _every_keyword(size: int) -> str:
    """Text that wakes every content rule of the scanner (each of their keywords, again and again) and holds no
    secret: each woken rule then runs over all of it."""
    rules, dropped = scan._rules(), set[int]()
    scanner = Scanner.of(())
    while True:
        keywords = sorted({k.decode() for i, r in enumerate(rules) if i not in dropped for k in r.keywords})
        unit = " ".join(keywords) + "\n"
        text = (unit * (size // len(unit) + 1))[:size]
        found = scanner.find(text[: 1 << 16])
        if found is None:
            return text
        dropped.add(next(i for i, r in enumerate(rules) if r.id == found.rule))


async def test_a_review_of_files_that_wake_every_rule_leaves_other_calls_running(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    text = _every_keyword(1 << 18)
    write(repo, {f"notes{i}.txt": text for i in range(4)})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    write(repo, {f"notes{i}.txt": "changed\n" + text for i in range(4)})
    with FakeUpstream("deepseek", api_key=DEEPSEEK_KEY) as fake:
        fake.agent = Script([], final="Nothing to report.")
        async with _served(make_settings(fake)) as (client, _):
            result, stall = await longest_stall(client, lambda: client.call_tool("review", {"path": str(repo)}))
    assert not result.is_error, result.content
    # 1 MiB read both sides and scanned on the event loop at 1.1 MB/s (every rule woken): no other call of any
    # token was answered meanwhile.
    assert stall < 0.5, stall


async def test_an_ocr_page_that_fails_leaves_the_pages_sent_beside_it_recorded(tmp_path: Path) -> None:
    (tmp_path / "three.pdf").write_bytes(blank_pdf(200, 200, pages=3))
    with FakeUpstream("deepseek", api_key=DEEPSEEK_KEY) as fake:
        # One page is refused once all three are out; the other two are being read when the call stops them: sent,
        # maybe billed.
        fake.script(
            Reply(status=400, error="image too large", stall_before_headers=3.0),
            *[Reply(stall_before_headers=30.0)] * 2,
        )
        async with _served(make_settings(fake)) as (client, _):
            with anyio.fail_after(60):
                failed = await client.call_tool(
                    "ocr", {"source": str(tmp_path / "three.pdf"), "model": "deepseek-flash"}
                )
                asked = len(fake.chat_requests())
                shown = await client.call_tool("balance", {})
    today = (shown.structured_content or {})["spent"]["today"]
    assert failed.is_error and asked == 3, (asked, failed.content)
    # Settled with the pages that had answered (none) and the pages sent beside the failure at their estimate:
    # before, the two stopped in flight went unrecorded and the day showed $0.
    assert today["calls"] == 1 and today["usd"] > 0, today
