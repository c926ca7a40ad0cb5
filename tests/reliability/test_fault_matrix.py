"""Fault matrix: every upstream failure the issue names, against the real stdio server, one call per fault.

For each fault the exact outcome is asserted (the answer after a retry, or one error block naming the cause), the
number of requests the upstream saw, and the time the call took. The server runs with a 1 s timeout and 2 retries;
the retry backoff is the production one (0.5 s base, jittered to 0.25-0.5 s for the first retry, 0.5-1 s for the
second), so a retried case proves the backoff both happened and stayed bounded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ATLAS_KEY, DEEPSEEK_KEY
from tests.fake_upstream import FakeUpstream, Reply
from tests.reliability.conftest import PlannedUpstream, StdioServer, free_port, server_env, stdio_server, text_of

pytestmark = pytest.mark.reliability

TIMEOUT = 1.0
RETRIES = 2
SLACK = 1.0  # scheduling headroom on a loaded 2-core CI machine; every lower bound is exact
FAST = (0.0, SLACK)  # no backoff, no timeout: the answer or the error comes straight back
FIRST_RETRY = (0.25, 0.5 + SLACK)  # one jittered backoff of 0.25-0.5 s
TWO_RETRIES = (0.75, 1.5 + SLACK)  # 0.25-0.5 s, then 0.5-1 s
ONE_TIMEOUT = (TIMEOUT, TIMEOUT + SLACK)
ANSWER = "all good after all"
OK = Reply(content=ANSWER)
REFUSED = f"http://127.0.0.1:{free_port()}/v1"  # the self-hosted slot points where nobody listens
# list_models: DeepSeek's list arrives after one retry, and the refused slot is reported beside it.
MODELS = (
    "deepseek:deepseek-flash",
    "deepseek:deepseek-v4-pro",
    "atlas:deepseek-ai/deepseek-ocr",
    f"openai: unavailable: OpenAI-compatible server: could not connect to {REFUSED}",
    "(gave up after 3 attempts)",
)


@dataclass(frozen=True)
class Fault:
    """One scripted failure and what the call must come to."""

    name: str
    replies: tuple[Reply, ...]
    answer: str | None = None  # the exact answer when the call must succeed
    answer_has: tuple[str, ...] = ()  # or what a successful answer must contain
    says: tuple[str, ...] = ()  # what the one error block must name
    attempts: int = 1
    seconds: tuple[float, float] = FAST
    tool: str = "chat"
    arguments: dict[str, Any] = field(default_factory=lambda: {"prompt": "fault matrix"})
    route: str = "/chat/completions"
    atlas_paths: tuple[str, ...] = ()  # what Atlas Cloud (configured, never faulted) is asked
    notice: str | None = None  # a second block that must follow the answer
    reset: bool = False  # a scripted drop is a TCP reset rather than a close
    hangs_up: bool = False  # the server must close the stalled upstream request, not leave it running


def _status(code: int, *says: str) -> Fault:
    return Fault(f"HTTP {code}", (Reply(status=code),), says=(f"HTTP {code}", *says))


def _retried(name: str, first: Reply, seconds: tuple[float, float] = FIRST_RETRY) -> Fault:
    return Fault(name, (first, OK), answer=ANSWER, attempts=2, seconds=seconds)


HTML = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
FAULTS = [
    _status(400, "Invalid request", "The request was rejected; check the tool arguments."),
    _status(401, "The key was rejected: check DEEPSEEK_API_KEY"),
    _status(402, "Insufficient Balance", "top up at https://platform.deepseek.com/top_up"),
    _status(404, "Nothing at that address: check the base URL"),
    _status(413, "The request is too large"),
    _status(422, "A parameter was not accepted; check the tool arguments."),
    _retried("HTTP 429 with Retry-After: 1", Reply(status=429, headers={"Retry-After": "1"}), (1.0, 1.0 + SLACK)),
    _retried("HTTP 429 without Retry-After", Reply(status=429)),
    _retried("HTTP 500", Reply(status=500)),
    _retried("HTTP 502", Reply(status=502)),
    _retried("HTTP 503", Reply(status=503)),
    _retried("HTTP 504", Reply(status=504)),
    Fault(
        "HTTP 503 on every attempt",
        (Reply(status=503),) * (RETRIES + 1),
        says=("HTTP 503", "Server overloaded", "try again in a little while", f"gave up after {RETRIES + 1} attempts"),
        attempts=RETRIES + 1,
        seconds=TWO_RETRIES,
    ),
    Fault(
        "connection refused",
        (),
        says=(f"could not connect to {REFUSED}", "check the network and the base URL", "gave up after 3 attempts"),
        attempts=0,  # nothing listens, so the fake sees nothing; the message counts the attempts
        seconds=TWO_RETRIES,
        arguments={"prompt": "fault matrix", "model": "openai:any-model"},
    ),
    Fault(
        "reset before the first byte",
        (Reply(drop_before_headers=True), OK),
        answer=ANSWER,
        attempts=2,
        seconds=FIRST_RETRY,
        reset=True,
    ),
    _retried("closed before the first byte", Reply(drop_before_headers=True)),
    Fault(
        "reset in the middle of a stream",
        (Reply(content="one two three four five", drop_after_chunks=3),),
        says=("the connection broke (", "try again"),
        reset=True,
    ),
    Fault(
        "closed in the middle of a stream",
        (Reply(content="one two three four five", drop_after_chunks=3),),
        says=("the connection broke (", "incomplete chunked read", "try again"),
    ),
    Fault(
        "stall before the headers",
        (Reply(stall_before_headers=30.0),),
        says=(f"no data for {TIMEOUT:g} s", "Raise DEEPSEEK_MCP_TIMEOUT"),
        seconds=ONE_TIMEOUT,
        hangs_up=True,
    ),
    Fault(
        "stall in the middle of a stream",
        (Reply(content="one two three four five", stall_after_chunks=2, stall_seconds=30.0),),
        says=(f"no data for {TIMEOUT:g} s", "Raise DEEPSEEK_MCP_TIMEOUT"),
        seconds=ONE_TIMEOUT,
        hangs_up=True,
    ),
    Fault(
        "keep-alives for longer than the timeout",
        (Reply(keepalives=6, keepalive_interval=0.3, content="worth the wait"),),
        answer="worth the wait",
        seconds=(6 * 0.3, 6 * 0.3 + SLACK),  # 1.8 s of keep-alives: well past the 1 s timeout, yet no timeout
    ),
    Fault(
        "malformed SSE lines",
        (
            Reply(
                malformed_lines=[
                    "data: {not json",
                    "data: [1, 2",
                    "data: null",
                    "event: odd",
                    "no colon",
                    "data: \x01",
                ],
                content="still a fine answer",
            ),
        ),
        answer="still a fine answer",
    ),
    Fault(
        "an error event inside a stream",
        (Reply(content="one two three", stream_error_after_chunks=2, stream_error_message="engine overheated"),),
        says=("error event in the stream (as HTTP 500): engine overheated", "try again"),
    ),
    _retried(
        "an error event before any answer",
        Reply(content="never sent", stream_error_after_chunks=0, stream_error_message="cold start"),
    ),
    Fault(
        "a non-JSON error body with a wrong content type",
        (Reply(status=400, body=HTML, content_type="application/json"),),
        says=("HTTP 400", "<html><body><h1>502 Bad Gateway</h1></body></html>", "check the tool arguments"),
    ),
    _retried(
        "a non-JSON error body with a wrong content type on a retryable status",
        Reply(status=502, body=HTML, content_type="application/json"),
    ),
    Fault(
        "a non-JSON success body",
        (Reply(body=b"<html>sign in to the Wi-Fi</html>", content_type="text/html"),),
        says=("with something that is not JSON (text/html)", "check the base URL"),
    ),
    Fault(
        "an answer cut by finish_reason: length",
        (Reply(content="the first half", finish_reason="length"),),
        answer="the first half",
        notice="The answer stopped at max_tokens (finish_reason=length); raise max_tokens to get the rest.\nThe cut "
        "answer was kept in the conversation: pass its conversation_id to ask for the rest.",
    ),
    Fault(
        "an upstream error that quotes the key back",
        (Reply(status=400, error=f"bad header Authorization: Bearer {DEEPSEEK_KEY}"),),
        says=("HTTP 400", "bad header Authorization: Bearer [redacted]"),
    ),
    # The same client serves the other endpoints: FIM streams from /beta/completions, list_models is a plain GET.
    Fault(
        "fim: reset before the first byte",
        (Reply(drop_before_headers=True), Reply(content="return a + b")),
        answer="return a + b",
        attempts=2,
        seconds=FIRST_RETRY,
        tool="fim",
        arguments={"prefix": "def add(a, b):\n    ", "suffix": "\n"},
        route="/beta/completions",
    ),
    Fault(
        "fim: an answer cut by finish_reason: length",
        (Reply(content="return a", finish_reason="length"),),
        answer="return a",
        notice="The answer stopped at max_tokens (finish_reason=length); raise max_tokens to get the rest.",
        tool="fim",
        arguments={"prefix": "def add(a, b):\n    "},
        route="/beta/completions",
    ),
    Fault(
        "list_models: HTTP 503 then the list",
        (Reply(status=503, path="/models"),),
        answer_has=MODELS,
        attempts=2,
        seconds=TWO_RETRIES,  # DeepSeek's list comes after one retry; the refused slot gives up after two
        tool="list_models",
        arguments={},
        route="/models",
        atlas_paths=("/v1/models",),
    ),
]


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[PlannedUpstream, FakeUpstream]]:
    with PlannedUpstream("deepseek", DEEPSEEK_KEY) as deepseek, FakeUpstream("atlas", ATLAS_KEY) as atlas:
        yield deepseek, atlas


@pytest.fixture(scope="module")
def server(upstreams: tuple[PlannedUpstream, FakeUpstream], workdir: Path) -> Iterator[StdioServer]:
    env = server_env(
        *upstreams,
        DEEPSEEK_MCP_TIMEOUT=f"{TIMEOUT:g}",
        DEEPSEEK_MCP_MAX_RETRIES=str(RETRIES),
        DEEPSEEK_MCP_OPENAI_BASE_URL=REFUSED,  # the connection-refused case calls `openai:...`
    )
    with stdio_server(env, workdir) as live:
        yield live


@pytest.fixture(autouse=True)
def fresh(upstreams: tuple[PlannedUpstream, FakeUpstream], server: StdioServer) -> Iterator[None]:
    for fake in upstreams:
        fake.reset()
    yield
    server.assert_nothing_leaked()


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_each_fault_ends_in_its_one_outcome_after_the_expected_attempts_and_time(
    fault: Fault, upstreams: tuple[PlannedUpstream, FakeUpstream], server: StdioServer
) -> None:
    deepseek, atlas = upstreams
    deepseek.reset_on_drop = fault.reset
    deepseek.script(*fault.replies)
    started = time.monotonic()
    result = server.call(fault.tool, fault.arguments)
    elapsed = time.monotonic() - started
    texts = [block.text for block in result.content if block.type == "text"]
    if fault.answer is not None:
        assert not result.is_error, texts
        assert texts == [fault.answer, *([fault.notice] if fault.notice else [])]
    elif fault.answer_has:
        assert not result.is_error and len(texts) == 1, texts
        assert all(fragment in texts[0] for fragment in fault.answer_has), texts[0]
    else:
        assert result.is_error and len(texts) == 1, texts
        assert texts[0].startswith(f"Error executing tool {fault.tool}: "), texts[0]
        for fragment in fault.says:
            assert fragment in texts[0], texts[0]
    attempts = [r for r in deepseek.requests if r.path.endswith(fault.route)]
    assert len(attempts) == fault.attempts
    assert tuple(r.path for r in atlas.requests) == fault.atlas_paths
    low, high = fault.seconds
    assert low <= elapsed < high, f"{fault.name} took {elapsed:.3f} s, expected {low}-{high} s"
    if fault.hangs_up:
        assert deepseek.wait_for(lambda f: f.requests[-1].client_disconnected, 2.0)


def test_after_the_whole_matrix_the_server_answers_and_holds_no_half_closed_connection(
    upstreams: tuple[PlannedUpstream, FakeUpstream], server: StdioServer
) -> None:
    result = server.call("chat", {"prompt": "still there?"})
    assert text_of(result) == "You said: still there? (turn 1)"
    assert not [socket for socket in server.tcp() if socket[1] == "CLOSE_WAIT"] and server.alive()
    assert "Traceback" not in server.stderr()
