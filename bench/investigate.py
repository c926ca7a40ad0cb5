"""`investigate`: a 10-step investigation of this repository against the fake's scripted model, at a fixed model
latency per turn. It prints the server's own time per step beside that floor (the model's latency), the bytes the
server sent upstream per turn, and the share of prompt tokens the fake's prefix cache served from turn 2 on.

The subject is the installed console script over stdio, its working directory this repository (so `paths` is left
to its default). The fake runs in its own process; its `started`/`finished` stamps per request give the time spent
upstream, and the server's time is the call's wall time minus that.
"""

from __future__ import annotations

import itertools
import json
import statistics
import time
from typing import Any

from harness import ROOT, Bench, session
from results import Result, Row, ms

LATENCY = 0.2  # seconds the model takes before each turn starts
SHARE_TARGET = 0.90
CLIENT = "mcp_server/upstream/client.py"
COMPLETION = "mcp_server/upstream/completion.py"
LOOP = "mcp_server/agent/loop.py"


def _line(path: str, text: str) -> int:
    """The first line of `path` (in this checkout) holding `text`: the script follows the code as it changes."""
    lines = (ROOT / path).read_text().split("\n")
    return next(n for n, line in enumerate(lines, start=1) if text in line)


def steps() -> list[tuple[str, dict[str, Any]]]:
    stream, accumulator = _line(CLIENT, "async def stream("), _line(COMPLETION, "class Accumulator")
    return [
        ("list_dir", {"path": ""}),
        ("glob", {"pattern": "mcp_server/**/*.py"}),
        ("grep", {"pattern": "def stream", "path": "mcp_server"}),
        ("read_file", {"path": CLIENT, "start_line": stream - 5, "end_line": stream + 35}),
        ("grep", {"pattern": "class Accumulator", "glob": "*.py"}),
        ("read_file", {"path": COMPLETION, "start_line": accumulator - 15, "end_line": accumulator + 35}),
        ("list_dir", {"path": "mcp_server/agent"}),
        ("grep", {"pattern": "tool_choice", "path": "mcp_server"}),
        ("read_file", {"path": LOOP, "start_line": 1, "end_line": 40}),
        ("glob", {"pattern": "tests/**/test_*.py"}),
    ]


def answer() -> tuple[str, int]:
    """An answer as a model writes one from those steps, and how many of its citations deserve `verified`: five
    right ones, one unrelated line it read, one line it never read, and one line that does not exist."""
    stream, accumulator = _line(CLIENT, "async def stream("), _line(COMPLETION, "class Accumulator")
    final, thinking = _line(LOOP, 'payload["tool_choice"] = "none"'), _line(LOOP, "def thinking_for")
    text = (
        f"Streaming lives in `UpstreamClient.stream` ({CLIENT}:{stream}), which sends the request and retries "
        f"({CLIENT}:{stream + 8}-{stream + 16}). Chunks are assembled by `Accumulator` ({COMPLETION}:{accumulator}). "
        f"The loop's final turn sets `tool_choice` to none at {LOOP}:{final}; its rules are in the module docstring, "
        f"{LOOP}:1-5.\n"
        f"`Accumulator` is defined at {COMPLETION}:{accumulator - 12}. `thinking_for` picks the mode at "
        f"{LOOP}:{thinking}. `stream` gives up at {CLIENT}:99999."
    )
    return text, 5


def script() -> dict[str, Any]:
    turns = [{"calls": [{"name": name, "arguments": args}], "reasoning": "Next, look here."} for name, args in steps()]
    return {"turns": turns, "final": answer()[0], "latency": LATENCY}


async def run(b: Bench, reps: int) -> Result:
    figures: list[dict[str, Any]] = []
    async with session(b, b.subject) as client:
        for _ in range(reps):
            await b.fake.reset()
            await b.fake._control.post("/_fake/agent", json=script())
            start = time.perf_counter()
            result = await client.call_tool("investigate", {"question": "How does a streamed answer become a result?"})
            wall = time.perf_counter() - start
            if result.is_error or result.structured_content is None:
                raise RuntimeError(f"investigate failed: {result.content}")
            figures.append(await _figures(b, wall, result.structured_content))
    return _result(figures)


async def _figures(b: Bench, wall: float, out: dict[str, Any]) -> dict[str, Any]:
    chats = [r for r in await b.fake.requests() if r["path"].endswith("/chat/completions")]
    upstream = sum(r["finished"] - r["started"] for r in chats)
    usages = (await b.fake._control.get("/_fake/agent")).json()["usages"]
    later = usages[1:]
    share = sum(u["prompt_cache_hit_tokens"] for u in later) / max(1, sum(u["prompt_tokens"] for u in later))
    bodies = [r["json"] for r in chats]
    return {
        "wall": wall,
        "byte_share": _byte_share(bodies),
        "steps": len(out["steps"]),
        "turns": len(chats),
        "server": wall - upstream,
        "bytes": [len(json.dumps(r["json"]).encode()) for r in chats],
        "share": share,
        # The prefix is stable when each turn hits at least all of the turn before it (its output is cached too).
        "stable": sum(u["prompt_cache_hit_tokens"] >= p["prompt_tokens"] for p, u in itertools.pairwise(usages)),
        "verified": sum(e["verified"] for e in out["evidence"]),
        "cited": len(out["evidence"]),
    }


def _byte_share(bodies: list[dict[str, Any]]) -> float:
    """The cache share again with bytes for tokens (closer to a real tokenizer on paths and code than the fake's
    words): what each turn adds after the model's own turn (the function results) is new, the rest is prefix."""

    def size(value: Any) -> int:
        return len(json.dumps(value, ensure_ascii=False).encode())

    total = new = 0
    for before, now in itertools.pairwise(bodies):
        total += size(now["messages"]) + size(now.get("tools"))
        new += sum(size(m) for m in now["messages"][len(before["messages"]) + 1 :])
    return 1 - new / max(1, total)


def _result(figures: list[dict[str, Any]]) -> Result:
    mid = sorted(figures, key=lambda f: f["server"])[len(figures) // 2]
    per_step = mid["server"] / mid["steps"]
    sent = mid["bytes"]
    share = statistics.median(f["share"] for f in figures)
    rows = [
        Row("investigate: server time per step", ms(per_step), ms(LATENCY), "", f"{per_step / LATENCY:.2f}x",
            "< model latency", per_step < LATENCY),
        Row("investigate: bytes sent per turn", f"{statistics.median(sent):,.0f} B", "", "", "", "median", None),
        Row("investigate: cache-hit share, turn 2+", f"{share:.0%}", "", "", "", f">= {SHARE_TARGET:.0%}",
            share >= SHARE_TARGET),
        Row("investigate: the same share by bytes", f"{statistics.median(f['byte_share'] for f in figures):.1%}", "",
            "", "", "", None),
        Row("investigate: bytes sent, all turns", f"{sum(sent):,} B", "", "", "", "", None),
        Row("investigate: turns hitting all the turn before", f"{mid['stable']}/{mid['turns'] - 1}", "", "", "", "all",
            mid["stable"] == mid["turns"] - 1),
        Row("investigate: citations verified / made", f"{mid['verified']}/{mid['cited']}", f"{answer()[1]} deserve it",
            "", "", "exactly the right ones", mid["verified"] == answer()[1]),
    ]  # fmt: skip
    notes = [
        f"investigate: {mid['steps']} function calls in {mid['turns']} model turns (one call a turn, then the "
        f"answer); the fake's model waits {LATENCY * 1000:.0f} ms before each turn. Wall time {mid['wall']:.2f} s, of "
        f"which the server's own {mid['server'] * 1000:.0f} ms (the rest is upstream). {mid['verified']} of "
        f"{mid['cited']} citations verified: the answer cites five right ranges, a read line unrelated to the code it "
        "names, a line never read and one that does not exist (a server that only checks that lines exist verifies "
        f"7 of 8). Bytes sent upstream per turn: {', '.join(f'{n:,}' for n in sent)}. Median of {len(figures)} runs.",
        "investigate: the cache-hit share is prompt tokens served from the fake's prefix cache (a token is a word "
        "there; the function definitions, earlier reasoning and calls count, as DeepSeek bills them) over all prompt "
        "tokens of turns 2-11. Every turn hit the whole turn before it, so the share is the most any prefix cache "
        "could serve: what is below 100% is each turn's new function result.",
    ]
    return Result(rows, {"runs": figures}, notes)
