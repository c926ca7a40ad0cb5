"""Time: cold start, per-call overhead, concurrency and progress latency. Each runs deepseek-mcp and its floor side
by side, interleaved, so machine noise hits both.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
from harness import Bench, Direct, Fake, Side, answer, median, session, timed
from mcp import Client
from results import Result, Row, ms, signed_ms

STREAM_TOKENS = 2000
PACE = 0.001  # seconds between chunks in the paced stream
CONCURRENT_CALLS = 50
UPSTREAM_LATENCY = 1.0  # seconds the fake waits before answering each concurrent call
FIRST_TOKEN_DELAY = 0.1  # seconds between the fake's first (empty) chunk and its first reasoning token
OWN = 0.0005  # seconds: a chat call's own share, with the default store (issue 28)


# --- 1. cold start ------------------------------------------------------------------------------------------------


async def _cold(b: Bench, side: Side, first: str) -> float:
    """Seconds from spawning the server to the answer of its first request (tools/list or tools/call)."""
    start = time.perf_counter()
    async with session(b, side) as client:
        if first == "tools/list":
            await client.list_tools()
        else:
            await answer(client, side)
        elapsed = time.perf_counter() - start
    return elapsed


async def cold_start(b: Bench, reps: int) -> Result:
    for side in (b.subject, b.floor):  # one unmeasured start each, so both find the same warm page cache
        await _cold(b, side, "tools/call")
    times: dict[tuple[str, str], list[float]] = {}
    for rep in range(reps):
        order = (b.subject, b.floor) if rep % 2 == 0 else (b.floor, b.subject)
        for first in ("tools/list", "tools/call"):
            for side in order:
                times.setdefault((side.name, first), []).append(await _cold(b, side, first))
    rows = []
    for first, label in (("tools/list", "cold start -> tools/list"), ("tools/call", "cold start -> first answer")):
        subject, floor = median(times[b.subject.name, first]), median(times[b.floor.name, first])
        ratio = subject / floor
        rows.append(
            Row(label, ms(subject), ms(floor), signed_ms(subject - floor), f"{ratio:.2f}x", "<= 1.15x", ratio <= 1.15)
        )
    raw = {f"{name} {first}": values for (name, first), values in times.items()}
    notes = [
        f"cold start: {reps} starts of each server per request kind, alternating which goes first; spawn to the "
        "answer of the first request after the handshake (SDK Client, 2026-07-28 era); the floor's first answer "
        "is its trivial `echo` tool, deepseek-mcp's a `chat` through the fake upstream. A start is CPU-bound "
        "throughout (the server's CPU time is within 1% of the wall time), and on this shared 2-core VM single "
        "starts of the same server vary by up to a third, so a ratio moves by a few hundredths from run to run."
    ]
    return Result(rows, raw, notes)


# --- 2. per-call overhead -----------------------------------------------------------------------------------------


Call = Callable[[], Coroutine[Any, Any, Any]]


async def _rounds(rounds: int, calls: list[Call], before: Call | None = None) -> list[list[float]]:
    """Time each call `rounds` times, rotating which goes first, so drift and noise hit them all alike."""
    times: list[list[float]] = [[] for _ in calls]
    for r in range(rounds):
        for k in range(len(calls)):
            i = (r + k) % len(calls)
            if before is not None:
                await before()
            times[i].append(await timed(calls[i]))
    return times


async def overhead(b: Bench, short_rounds: int, stream_rounds: int, paced_rounds: int) -> Result:
    long_answer = " ".join(f"w{n}" for n in range(STREAM_TOKENS))  # the fake streams one word per chunk

    async def script_long() -> None:
        await b.fake.script({"content": long_answer})

    async def script_paced() -> None:
        await b.fake.script({"content": long_answer, "token_delay": PACE})

    direct = Direct(b.fake)
    try:
        async with session(b, b.subject) as client, session(b, b.floor) as empty:

            async def via_mcp() -> None:
                await answer(client, b.subject)

            async def sdk_only() -> None:
                await answer(empty, b.floor)

            await _rounds(20, [via_mcp, direct.chat, sdk_only])  # warm up: connections, caches, lazy imports
            await script_long()
            streamed = await answer(client, b.subject)
            if streamed.structured_content is None or streamed.structured_content["answer"] != long_answer:
                raise RuntimeError("the streamed answer came back altered")
            short = await _rounds(short_rounds, [via_mcp, direct.chat, sdk_only])
            long = await _rounds(stream_rounds, [via_mcp, direct.chat], before=script_long)
            paced = await _rounds(paced_rounds, [via_mcp, direct.chat], before=script_paced)
    finally:
        await direct.aclose()
    s, f, sdk = (median(t) for t in short)
    own = s - f - sdk
    rows = [
        Row("chat call, short answer", ms(s), ms(f), signed_ms(s - f), f"{s / f:.2f}x", "diff < 2 ms", s - f < 0.002),
        Row("  empty MCPServer echo call (SDK only)", ms(sdk), "", "", "", "(part of the diff)", None),
        Row("  our own share (diff less the SDK's echo)", f"{own * 1000:.2f} ms", "", "", "", "<= 0.5 ms", own <= OWN),
    ]
    s, f = (median(t) for t in long)
    per_token = (s - f) / STREAM_TOKENS
    label = f"chat call, {STREAM_TOKENS:,}-token stream, unpaced"
    rows.append(Row(label, ms(s), ms(f), signed_ms(s - f), f"{s / f:.2f}x", "<= 1.05x", s / f <= 1.05))
    s, f = (median(t) for t in paced)
    label = f"chat call, {STREAM_TOKENS:,}-token stream, {PACE * 1000:g} ms/token"
    rows.append(Row(label, ms(s), ms(f), signed_ms(s - f), f"{s / f:.3f}x", "<= 1.05x", s / f <= 1.05))
    notes = [
        f"per call: one stdio session per server and one pooled httpx2 client, {short_rounds} short and "
        f"{stream_rounds} streamed calls each, rotating the order; the floor streams the same request body from the "
        "same fake and parses every SSE event. The empty MCPServer's echo round trip is the SDK's own share of the "
        "diff (stdio, JSON-RPC, validation); what is left is our own, with the store the server runs with (unset "
        "DEEPSEEK_MCP_STATE: the default SQLite file), each call a new conversation whose save follows its answer. "
        f"The stream is {STREAM_TOKENS:,} one-word chunks: unpaced, as fast as "
        f"the fake writes them (a throughput test: {per_token * 1e6:.1f} us more per chunk, fixed costs included), "
        f"and paced at {PACE * 1000:g} ms per token (the fake's timer; still ten times a real model's speed), "
        f"{paced_rounds} calls each.",
    ]
    return Result(rows, {"short": short, "stream": long, "paced": paced}, notes)


# --- 3. concurrency -----------------------------------------------------------------------------------------------


async def _at_once(count: int, call: Call) -> None:
    async with anyio.create_task_group() as tg:
        for _ in range(count):
            tg.start_soon(call)


async def concurrency(b: Bench, reps: int) -> Result:
    slow = {"stall_before_headers": UPSTREAM_LATENCY}
    direct = Direct(b.fake)
    try:
        async with session(b, b.subject) as client:
            await answer(client, b.subject)

            async def via_mcp() -> None:
                await _at_once(CONCURRENT_CALLS, lambda: answer(client, b.subject))

            async def via_http() -> None:
                await _at_once(CONCURRENT_CALLS, direct.chat)

            async def script() -> None:
                await b.fake.script(*[slow] * CONCURRENT_CALLS)

            s, f = await _rounds(reps, [via_mcp, via_http], before=script)
    finally:
        await direct.aclose()
    wall = median(s)
    row = Row(
        f"{CONCURRENT_CALLS} concurrent {UPSTREAM_LATENCY:g} s calls, wall",
        f"{wall:.3f} s",
        f"{UPSTREAM_LATENCY:.3f} s",
        f"{wall - UPSTREAM_LATENCY:+.3f} s",
        f"{wall / UPSTREAM_LATENCY:.2f}x",
        "<= 1.3 s",
        wall <= 1.3,
    )
    notes = [
        f"concurrency: {CONCURRENT_CALLS} tools/call at once on one stdio session, each answered by the fake after "
        f"{UPSTREAM_LATENCY:g} s; the floor is the {UPSTREAM_LATENCY:g} s latency itself (the same {CONCURRENT_CALLS} "
        f"requests sent at once straight over HTTP took {median(f):.3f} s); {reps} rounds."
    ]
    return Result([row], {"mcp": s, "direct": f}, notes)


# --- 4. progress latency ------------------------------------------------------------------------------------------


async def _token_time(fake: Fake) -> float:
    """When the fake wrote the first reasoning token: the request's arrival plus the scripted delay (on the shared
    CLOCK_MONOTONIC, which `time.monotonic` reads in every process on Linux)."""
    requests = [r for r in await fake.requests() if r["path"].endswith("/chat/completions")]
    await fake.reset()
    return float(requests[-1]["started"]) + FIRST_TOKEN_DELAY


async def _via_mcp_progress(b: Bench, client: Client, reply: dict[str, Any]) -> float:
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(time.monotonic())

    await b.fake.script(reply)
    await answer(client, b.subject, tool="reason", progress_callback=on_progress)
    token = await _token_time(b.fake)
    return min(t for t in seen if t >= token) - token


async def _via_http_token(direct: Direct, fake: Fake, reply: dict[str, Any]) -> float:
    arrivals: list[float] = []

    def on_event(event: dict[str, Any]) -> None:
        delta = (event.get("choices") or [{}])[0].get("delta") or {}
        if delta.get("reasoning_content"):
            arrivals.append(time.monotonic())

    await fake.script(reply)
    await direct.chat(thinking=True, on_event=on_event)
    return arrivals[0] - await _token_time(fake)


async def progress(b: Bench, reps: int) -> Result:
    reply = {"reasoning": "thinking", "content": "ok", "token_delay": FIRST_TOKEN_DELAY}
    subject: list[float] = []
    floor: list[float] = []
    direct = Direct(b.fake)
    try:
        async with session(b, b.subject) as client:
            await answer(client, b.subject)
            await b.fake.reset()
            for _ in range(reps):
                subject.append(await _via_mcp_progress(b, client, reply))
                floor.append(await _via_http_token(direct, b.fake, reply))
    finally:
        await direct.aclose()
    s, f = median(subject), median(floor)
    row = Row("first progress after first token", ms(s), ms(f), signed_ms(s - f), "", "<= 50 ms", s <= 0.05)
    notes = [
        "progress: `reason` with a progress token; the fake sends an empty first chunk, waits "
        f"{FIRST_TOKEN_DELAY:g} s, then the first reasoning token. Token time = the fake's recorded arrival of the "
        "request + that delay "
        "(time.monotonic in both processes reads the same clock); latency = the client's first progress "
        "notification at or after it, minus it. The floor column is the same measure for a direct HTTP client "
        f"seeing the token itself (the method's own error); {reps} calls each."
    ]
    return Result([row], {"mcp": subject, "direct": floor}, notes)
