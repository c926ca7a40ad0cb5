"""Size: resident memory, the tools/list result, and what start-up imports. Raw JSON-RPC over pipes where the wire
bytes themselves are the measure.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import tempfile
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TextIO

import anyio
from harness import ROOT, Bench, Side, answer, rss_mb, server_pids, session
from results import Result, Row

# --- 5. memory ----------------------------------------------------------------------------------------------------


async def memory(b: Bench, calls: int) -> Result:
    figures: dict[str, dict[str, float]] = {}
    async with AsyncExitStack() as stack:
        clients = {}
        for side in (b.subject, b.floor):
            before = set(server_pids({b.fake.pid}))
            client = await stack.enter_async_context(session(b, side))
            (pid,) = set(server_pids({b.fake.pid})) - before
            await client.list_tools()
            clients[side.name] = (side, client, pid)
        await anyio.sleep(0.5)
        for name, (_, _, pid) in clients.items():
            figures[name] = {"idle": rss_mb(pid)}
        for name, (side, client, pid) in clients.items():
            await answer(client, side)
            figures[name]["first call"] = rss_mb(pid)
        for _ in range(0, calls, 50):  # interleaved in blocks, so both run while the machine is in the same state
            for side, client, _pid in clients.values():
                for _ in range(50):
                    await answer(client, side)
        await anyio.sleep(0.5)
        for name, (_, _, pid) in clients.items():
            figures[name][f"after {calls}"] = rss_mb(pid)
    s, f = figures[b.subject.name], figures[b.floor.name]
    grow_s, grow_f = s[f"after {calls}"] - s["idle"], f[f"after {calls}"] - f["idle"]
    rows = [
        Row(
            "RSS idle",
            f"{s['idle']:.1f} MB",
            f"{f['idle']:.1f} MB",
            f"{s['idle'] - f['idle']:+.1f} MB",
            f"{s['idle'] / f['idle']:.2f}x",
            "<= 1.2x",
            s["idle"] / f["idle"] <= 1.2,
        ),
        Row(
            f"RSS growth, idle -> {calls:,} calls",
            f"{grow_s:+.1f} MB",
            f"{grow_f:+.1f} MB",
            f"{grow_s - grow_f:+.1f} MB",
            "",
            "<= 10 MB",
            grow_s <= 10,
        ),
    ]
    notes = [
        f"memory: VmRSS from /proc/PID/status of each server process, after the handshake and tools/list plus 0.5 s "
        f"(idle), after one call ({s['first call']:.1f} MB vs {f['first call']:.1f} MB), and after {calls:,} calls "
        "(deepseek-mcp: `chat` through the fake, each a new conversation; the floor: `echo`)."
    ]
    return Result(rows, figures, notes)


# --- 6. tools/list size -------------------------------------------------------------------------------------------


def _rpc(proc: subprocess.Popen[str], message: dict[str, Any]) -> dict[str, Any] | None:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(message) + "\n")
    proc.stdin.flush()
    while "id" in message:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the server closed stdout before answering {message['method']} (see its stderr)")
        reply = json.loads(line)
        if reply.get("id") == message["id"]:
            return dict(reply)
    return None


def _handshake(side: Side, b: Bench, python_flags: tuple[str, ...] = (), errlog: TextIO | None = None) -> Any:
    """Start `side` with raw pipes, do the 2025-11-25 handshake and tools/list, close stdin; the tools/list result
    as the server wrote it."""
    env = {"PATH": os.environ.get("PATH", ""), **b.fake.env, **dict(side.env)}
    if Path(side.command).name.startswith("python"):
        command = [side.command, *python_flags, *side.args]
    else:  # a console script is a Python file
        command = [sys.executable, *python_flags, side.command, *side.args]
    proc = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errlog, text=True, env=env, cwd=ROOT
    )
    try:
        init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}
        _rpc(proc, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init})
        _rpc(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        reply = _rpc(proc, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
    finally:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.close()
        proc.wait(timeout=10)
        proc.stdout.close()
    assert reply is not None
    return reply["result"]


def tools_list_bytes(b: Bench) -> tuple[int, dict[str, int]]:
    """The tools/list result's size in compact JSON, in total and per tool."""
    result = _handshake(b.subject, b)
    per_tool = {tool["name"]: len(_compact(tool)) for tool in result["tools"]}
    return len(_compact(result)), per_tool


def _compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def tool_list(b: Bench) -> Result:
    total, per_tool = tools_list_bytes(b)
    # 10 KiB for every tool, delegate included (the ten before it keep to 8,900 B so that it fits).
    size = f"{total:,} B ~{total // 4:,} tok"
    row = Row("tools/list result", size, "", "", "", "<= 10 KiB (10,240 B)", total <= 10240)
    notes = [
        "tools/list: the `result` object of the 2025-11-25 handshake's tools/list, compact JSON as on the wire; "
        "tokens estimated as bytes / 4 (no tokenizer). Per tool: "
        + ", ".join(f"{name} {size:,} B" for name, size in per_tool.items())
        + "."
    ]
    return Result([row], {"total": total, "per_tool": per_tool}, notes)


# --- 7. start-up imports ------------------------------------------------------------------------------------------

HEAVY = ("PIL", "pypdfium2")  # image and PDF libraries: the first ocr call loads them, nothing else may


def _imports(side: Side, b: Bench) -> dict[str, float]:
    """Every module the server imports from its start to answering tools/list, with its own import time (ms)."""
    with tempfile.TemporaryFile("w+") as log:
        _handshake(side, b, ("-X", "importtime"), log)
        log.seek(0)
        lines = log.read().splitlines()
    found: dict[str, float] = {}
    for line in lines:
        if line.startswith("import time:") and "|" in line:
            own, _, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
            if own.isdigit():
                found[name] = int(own) / 1000
    return found


def startup_imports(b: Bench) -> Result:
    floor = _imports(b.floor, b)
    extra = {name: own for name, own in _imports(b.subject, b).items() if name not in floor}
    heavy = sorted(name for name in extra if name.split(".")[0] in HEAVY)
    packages = collections.Counter(name.split(".")[0] for name in extra)
    shown = ", ".join(f"{name} {count}" for name, count in packages.most_common())
    subject = f"{len(extra)} modules, {sum(extra.values()):.0f} ms"
    row = Row("start-up imports beyond the SDK's", subject, "", "", "", "no PIL, pypdfium2", not heavy)
    notes = [
        "start-up imports: modules deepseek-mcp imports between its start and its tools/list answer that the empty "
        f"MCPServer does not (python -X importtime, own time, inflated by the tracing), by package: {shown}."
        + (f" Image/PDF modules loaded: {', '.join(heavy)}." if heavy else "")
    ]
    return Result([row], {"extra": extra}, notes)
