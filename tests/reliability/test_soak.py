"""Soak: 2,000 calls through one stdio server, twenty at a time, successes and faults mixed.

Every call is tagged `[call N]`, and the fake upstream answers each of its attempts from a plan, so each call's
outcome and attempt count are known in advance even with twenty in flight. The calls run in five rounds of 400;
between rounds, with nothing in flight, the server's descriptors, TCP sockets and resident memory are read from
/proc. The first round is the warm-up (imports, caches, the conversation store filling to its 200).
"""

from __future__ import annotations

import base64
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio
import pytest

from tests.conftest import ATLAS_KEY, DEEPSEEK_KEY
from tests.fake_upstream import FakeUpstream, Reply
from tests.reliability.conftest import PlannedUpstream, StdioServer, server_env, stdio_server, text_of
from tests.samples import png

pytestmark = pytest.mark.reliability

CALLS = 2_000
AT_ONCE = 20
ROUNDS = 5
TIMEOUT = 1.5  # the stall case waits this long; everything else is quick
CALL_DEADLINE = 20.0  # a call without a result by then is a hang
CANCEL_AFTER = 0.2  # after the upstream request arrived; its answer takes 4 s to stream
POOL_KEEPALIVE = 20  # UpstreamClient keeps at most this many idle connections
# Growth allowed from the end of the warm-up to the end: 4 MiB over 1,600 calls is 2.5 KiB a call, a third of one
# 8 KiB answer, so keeping any answer, request or response per call would exceed it; measured growth is ~0-1 MiB.
RSS_GROWTH_KIB = 4 * 1024

BIG = " ".join(["x" * 199] * 40)  # an 8 KiB answer in 40 pieces, so anything kept per call shows in memory
Outcome = Literal["answer", "error", "cancelled"]


@dataclass(frozen=True)
class Kind:
    """One kind of call in the mix: its tool, the upstream's reply per attempt, and how it must end."""

    name: str
    tool: str = "chat"
    replies: tuple[Reply, ...] = (Reply(content=BIG),)
    outcome: Outcome = "answer"
    says: str = BIG  # in the answer, or in the error
    attempts: int = 1  # tagged requests the upstream must see
    arguments: dict[str, Any] = field(default_factory=dict)


def _status(code: int, says: str) -> Kind:
    return Kind(f"HTTP {code}", replies=(Reply(status=code),), outcome="error", says=says)


def _retried(code: int) -> Kind:
    return Kind(
        f"HTTP {code} then an answer",
        replies=(Reply(status=code, headers={"Retry-After": "0"}), Reply(content=BIG)),
        attempts=2,
    )


PNG_URL = "data:image/png;base64," + base64.b64encode(png()).decode()
KINDS: list[Kind] = [
    *[Kind("chat")] * 8,
    *[Kind("reason", "reason", (Reply(reasoning="step " * 30, content=BIG),))] * 2,
    *[Kind("fim", "fim", (Reply(content="x, y"),), says="x, y")] * 2,
    Kind("list_models", "list_models", (), says="deepseek:deepseek-flash", attempts=0),
    Kind("balance", "balance", (), says="110.00 CNY", attempts=0),
    Kind("ocr", "ocr", (), says="Computational and Data Science", attempts=0, arguments={"source": PNG_URL}),
    _status(400, "HTTP 400"),
    _status(401, "DEEPSEEK_API_KEY"),
    _status(402, "top up"),
    _status(404, "check the base URL"),
    _status(413, "too large"),
    _status(422, "A parameter was not accepted"),
    *[_retried(code) for code in (429, 500, 502, 503, 504)],
    Kind(
        "HTTP 503 on every attempt",
        replies=(Reply(status=503, headers={"Retry-After": "0"}),) * 4,
        outcome="error",
        says="gave up after 4 attempts",
        attempts=4,
    ),
    Kind("reset before the first byte", replies=(Reply(drop_before_headers=True), Reply(content=BIG)), attempts=2),
    Kind(
        "reset mid-stream",
        replies=(Reply(content=BIG, drop_after_chunks=5),),
        outcome="error",
        says="the connection broke",
    ),
    Kind(
        "error event mid-stream",
        replies=(Reply(content=BIG, stream_error_after_chunks=5, stream_error_message="overheated"),),
        outcome="error",
        says="error event in the stream (as HTTP 500): overheated",
    ),
    Kind(
        "error event first",
        replies=(Reply(stream_error_after_chunks=0, stream_error_message="cold"), Reply(content=BIG)),
        attempts=2,
    ),
    Kind("malformed lines", replies=(Reply(content=BIG, malformed_lines=["data: {oops", "data: [1,"]),)),
    Kind("finish_reason length", replies=(Reply(content=BIG, finish_reason="length"),), says="raise max_tokens"),
    Kind("keep-alives", replies=(Reply(content=BIG, keepalives=3, keepalive_interval=0.05),)),
    Kind(
        "HTML error body",
        replies=(Reply(status=400, body=b"<html>no</html>", content_type="application/json"),),
        outcome="error",
        says="<html>no</html>",
    ),
    Kind(
        "HTML success body",
        replies=(Reply(body=b"<html>portal</html>", content_type="text/html"),),
        outcome="error",
        says="not JSON",
    ),
    Kind(
        "stall mid-stream",
        replies=(Reply(content=BIG, stall_after_chunks=3, stall_seconds=30.0),),
        outcome="error",
        says=f"no data for {TIMEOUT:g} s",
    ),
    Kind("empty prompt", replies=(), outcome="error", says="`prompt` is empty", attempts=0, arguments={"prompt": ""}),
    Kind(
        "unknown conversation",
        replies=(),
        outcome="error",
        says="is unknown or has expired",
        attempts=0,
        arguments={"conversation_id": "no-such-conversation"},
    ),
    Kind("cancelled", replies=(Reply(content=BIG, token_delay=0.1),), outcome="cancelled", says=""),
]


def _arguments(kind: Kind, call: int) -> dict[str, Any]:
    tag = f"[call {call}]"
    if kind.tool in ("chat", "reason"):
        return {"prompt": f"{tag} soak", **kind.arguments}
    if kind.tool == "fim":
        return {"prefix": f"# {tag}\ndef f(", "suffix": "):\n    pass\n"}
    return dict(kind.arguments)


SCHEDULE = [KINDS[n % len(KINDS)] for n in range(CALLS)]
random.Random(6).shuffle(SCHEDULE)  # mixed, but the same mix on every run


def _plan(call: int, attempt: int) -> Reply | None:
    replies = SCHEDULE[call].replies
    return replies[attempt - 1] if attempt <= len(replies) else None


@dataclass
class Sample:
    """The server at rest between rounds."""

    calls: int
    fds: Counter[str]
    tcp: Counter[tuple[int, str]]
    rss_kib: int
    upstream_open: int

    @property
    def pooled(self) -> int:
        return _pooled(self.tcp)

    @property
    def fds_outside_pool(self) -> int:
        return sum(self.fds.values()) - self.pooled


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[PlannedUpstream, FakeUpstream]]:
    with PlannedUpstream("deepseek", DEEPSEEK_KEY, _plan) as deepseek, FakeUpstream("atlas", ATLAS_KEY) as atlas:
        yield deepseek, atlas


@pytest.fixture(scope="module")
def server(upstreams: tuple[PlannedUpstream, FakeUpstream], workdir: Path) -> Iterator[StdioServer]:
    with stdio_server(server_env(*upstreams, DEEPSEEK_MCP_TIMEOUT=f"{TIMEOUT:g}"), workdir) as live:
        yield live


async def _call(server: StdioServer, upstream: PlannedUpstream, call: int) -> tuple[Outcome, str]:
    kind = SCHEDULE[call]
    with anyio.fail_after(CALL_DEADLINE):
        if kind.outcome != "cancelled":
            result = await server.client.call_tool(kind.tool, _arguments(kind, call))
            return ("error" if result.is_error else "answer"), text_of(result)
        async with anyio.create_task_group() as tg:
            finished: list[str] = []

            async def run() -> None:
                result = await server.client.call_tool(kind.tool, _arguments(kind, call))
                finished.append(text_of(result))

            tg.start_soon(run)
            # Cancel once the answer is streaming, not before the upstream was even asked.
            asked = await anyio.to_thread.run_sync(lambda: upstream.wait_for(lambda f: call in f.records, 10.0))
            assert asked, f"call {call} never reached the upstream"
            await anyio.sleep(CANCEL_AFTER)
            tg.cancel_scope.cancel()
        return ("answer", finished[0]) if finished else ("cancelled", "")


async def _round(
    server: StdioServer, upstream: PlannedUpstream, calls: range, results: dict[int, tuple[Outcome, str]]
) -> None:
    pending = iter(calls)

    async def worker() -> None:
        for call in pending:  # the twenty workers share one iterator: each call is taken once
            outcome = await _call(server, upstream, call)
            assert call not in results, f"call {call} got a second result"
            results[call] = outcome

    async with anyio.create_task_group() as tg:
        for _ in range(AT_ONCE):
            tg.start_soon(worker)


def _at_rest(server: StdioServer, upstreams: tuple[PlannedUpstream, FakeUpstream], calls: int) -> Sample:
    """Wait for quiet (cancelled and timed-out calls end at the fake a moment after the client moves on), then read
    the server's descriptors, sockets and memory."""
    for fake in upstreams:
        assert fake.wait_for(lambda f: all(r.finished is not None for r in f.requests), 10.0)

    def settled(_: FakeUpstream) -> bool:  # both ends agree on how many connections are open
        return _pooled(server.tcp()) == sum(f.open_connections for f in upstreams)

    upstreams[0].wait_for(settled, 5.0)
    ports = {fake.port for fake in upstreams}
    tcp = server.tcp()
    strangers = {key: n for key, n in tcp.items() if key[0] not in ports}
    assert not strangers, f"TCP sockets to something other than the upstreams: {strangers}"
    return Sample(calls, server.fds(), tcp, server.rss_kib(), sum(f.open_connections for f in upstreams))


def _pooled(tcp: Counter[tuple[int, str]]) -> int:
    return sum(n for (_, state), n in tcp.items() if state == "ESTABLISHED")


def test_two_thousand_mixed_calls_each_get_one_result_and_leave_nothing_behind(
    upstreams: tuple[PlannedUpstream, FakeUpstream], server: StdioServer
) -> None:
    deepseek, _ = upstreams
    results: dict[int, tuple[Outcome, str]] = {}
    samples = [_at_rest(server, upstreams, 0)]
    started = time.monotonic()
    per_round = CALLS // ROUNDS
    for first in range(0, CALLS, per_round):
        server.run(_round, server, deepseek, range(first, first + per_round), results)
        samples.append(_at_rest(server, upstreams, first + per_round))
    elapsed = time.monotonic() - started

    # Every call: exactly one result, the planned one, after the planned number of attempts.
    assert sorted(results) == list(range(CALLS))
    wrong = {
        call: (kind.name, results[call], deepseek.attempts[call])
        for call, kind in enumerate(SCHEDULE)
        if results[call][0] != kind.outcome
        or kind.says not in results[call][1]
        or deepseek.attempts[call] != kind.attempts
    }
    assert not wrong, f"{len(wrong)} calls ended otherwise than planned, e.g. {list(wrong.items())[:3]}"
    cancelled = [call for call, kind in enumerate(SCHEDULE) if kind.outcome == "cancelled"]
    assert all(deepseek.records[call][0].client_disconnected for call in cancelled)
    tagged = [r for r in deepseek.requests if b"[call " in r.body]
    assert len(tagged) == sum(kind.attempts for kind in SCHEDULE)

    # Descriptors: exactly the starting set, apart from idle keep-alive connections the upstream also holds open.
    start, warm, end = samples[0], samples[1], samples[-1]
    for sample in samples[1:]:
        assert sample.fds_outside_pool == start.fds_outside_pool, (start, sample)
        assert set(sample.tcp) <= {(fake.port, "ESTABLISHED") for fake in upstreams}, sample.tcp
        assert sample.pooled == sample.upstream_open <= POOL_KEEPALIVE, sample
    assert end.rss_kib - warm.rss_kib <= RSS_GROWTH_KIB, [s.rss_kib for s in samples]

    # And it still answers.
    after = server.call("chat", {"prompt": "still there?"})
    assert text_of(after) == "You said: still there? (turn 1)" and server.alive()
    assert "Traceback" not in server.stderr()
    read = server.assert_nothing_leaked()
    print(
        f"\nsoak: {CALLS} calls in {elapsed:.1f} s; outcomes {Counter(o for o, _ in results.values())}; "
        f"fds {sum(start.fds.values())} -> {sum(end.fds.values())} ({end.pooled} pooled upstream connections); "
        f"RSS KiB by round {[s.rss_kib for s in samples]}; {read} bytes of output searched for keys"
    )
