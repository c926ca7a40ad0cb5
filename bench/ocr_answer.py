"""A large answer of DeepSeek's OCR API (issue 17, item 5): how long other calls stall while the installed server
processes it, and the server's peak memory.

The fake upstream (in this process, its own thread) answers one `ocr` call on a 1,000-page PDF with a scripted body
of PAGES pages of BOXES grounded lines each. Meanwhile a second task calls `list_models` in a loop; the stall is the
longest gap between two of its answers from the moment the fake finished sending the OCR body until the OCR result
arrived (a call on the event loop's turn takes a few ms; before this fix the loop was blocked for the whole parse).
Peak memory is the server's VmHWM, read from /proc after the call.

    .venv/bin/python bench/run.py --only ocr_answer
"""

from __future__ import annotations

import itertools
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from harness import REQUEST_TIMEOUT, ROOT, SUBJECT_SCRIPT
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from results import Result, Row

sys.path.insert(0, str(ROOT))

from tests.fake.ocr_answers import big_ocr_answer
from tests.fake_upstream import FakeUpstream, Reply
from tests.samples import blank_pdf

KEY = "sk-bench-ocr-answer-0123456789"
CASES = ((1000, 400), (200, 400))


def _children(parent: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "stat").read_text().rpartition(")")[2].split()[1] == str(parent):
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


def _peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def one(pages: int, boxes: int, errlog: Any, workdir: Path) -> dict[str, float]:
    """One OCR answer of `pages` x `boxes`: the longest stall of other calls, the answer's time and peak memory."""
    document = workdir / f"long-{pages}.pdf"
    document.write_bytes(blank_pdf(72, 72, pages=pages))
    with FakeUpstream("deepseek", api_key=KEY) as fake:
        fake.script(Reply(path="/v1/tools/ocr", body=big_ocr_answer(pages, boxes), content_type="application/json"))
        env = {"DEEPSEEK_API_KEY": KEY, "DEEPSEEK_BASE_URL": fake.base_url, "PATH": os.environ.get("PATH", "")}
        before = _children(os.getpid())
        params = StdioServerParameters(command=str(SUBJECT_SCRIPT), env=env, cwd=str(workdir))
        async with Client(stdio_client(params, errlog=errlog), read_timeout_seconds=REQUEST_TIMEOUT) as client:
            (pid,) = _children(os.getpid()) - before
            ticks: list[float] = []
            done: list[float] = []

            async def read() -> None:
                result = await client.call_tool("ocr", {"source": str(document)})
                done.append(time.monotonic())
                if result.is_error:
                    raise RuntimeError(f"the OCR call failed: {result.content}")

            async def tick() -> None:
                while not done:
                    await client.call_tool("list_models", {})
                    ticks.append(time.monotonic())

            started = time.monotonic()
            async with anyio.create_task_group() as tg:
                tg.start_soon(read)
                tg.start_soon(tick)
            peak = _peak_mib(pid)
        (upload,) = fake.tool_requests("ocr")
    sent = upload.finished or started
    marks = [sent, *[t for t in ticks if sent < t < done[0]], done[0]]
    stall = max(b - a for a, b in itertools.pairwise(marks))
    return {"stall": stall, "after_body": done[0] - sent, "total": done[0] - started, "peak_mib": peak}


async def run(errlog: Any) -> Result:
    rows, raw = [], {}
    with tempfile.TemporaryDirectory(prefix="bench-ocr-answer-") as tmp:
        for pages, boxes in CASES:
            figures = await one(pages, boxes, errlog, Path(tmp))
            raw[f"{pages}x{boxes}"] = figures
            rows.append(
                Row(
                    f"OCR answer {pages} pages x {boxes} boxes",
                    f"stall {figures['stall'] * 1000:.0f} ms, peak {figures['peak_mib']:.0f} MiB",
                    f"answer processed in {figures['after_body']:.1f} s",
                    "",
                    "",
                    "other calls keep answering",
                    figures["stall"] < 1.0,
                )
            )
    notes = ["stall: the longest wait of a list_models call while the server processed the OCR answer"]
    return Result(rows, raw, notes)


if __name__ == "__main__":
    print(anyio.run(run, sys.stderr))
