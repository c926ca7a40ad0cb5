"""OCR throughput (issue 12): a 50-page PDF through the installed server, pages rasterised by its rendering workers
and read by DeepSeek-OCR on the fake upstream (Atlas Cloud flavour, the chat route), against its floor.

The floor is measured in the same run: max(render-bound, ceil(pages / concurrency) x latency), where render-bound
is raw pypdfium2 rendering and encoding every page in one process (what a single-threaded tool would spend) and
the latency is what the fake waits before answering each page. The PDF is made by bench/documents.py: text and a
bar chart per page, letter size, rendered at 144 dpi (1224x1584).
"""

from __future__ import annotations

import io
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
from documents import text_pdf
from harness import REQUEST_TIMEOUT, ROOT, SUBJECT_SCRIPT
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from results import Result, Row

ATLAS_KEY = "apikey-bench-0123456789abcdef"
PAGES = 50
JPEG_QUALITY = 85  # what the server sends (mcp_server/media/pdf.py)


class AtlasFake:
    """tests/fake_upstream.py as Atlas Cloud, in its own process, with a delay before every page's answer."""

    def __init__(self) -> None:
        import json

        command = [sys.executable, str(ROOT / "tests" / "fake_upstream.py"), "--flavor", "atlas", "--port", "0"]
        self._proc = subprocess.Popen([*command, "--api-key", ATLAS_KEY], stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert self._proc.stdout is not None
        info = json.loads(self._proc.stdout.readline())
        self.base_url: str = info["base_url"]
        self._control = httpx2.AsyncClient(base_url=info["origin"], timeout=30)

    async def pace(self, latency: float, pages: int) -> None:
        await self._control.post("/_fake/reset")
        reply = {"path": "/v1/chat/completions", "stall_before_headers": latency}
        (await self._control.post("/_fake/script", json=[reply] * pages)).raise_for_status()

    async def chat_requests(self) -> list[dict[str, Any]]:
        found = (await self._control.get("/_fake/requests")).json()
        return [r for r in found if r["path"].endswith("/chat/completions")]

    async def aclose(self) -> None:
        await self._control.aclose()
        self._proc.terminate()
        self._proc.wait(timeout=10)


@asynccontextmanager
async def server(fake: AtlasFake, errlog: Any, concurrency: int) -> AsyncIterator[tuple[Client, int]]:
    """A fresh server (so its peak memory is this run's), and its pid."""
    env = {
        "ATLASCLOUD_API_KEY": ATLAS_KEY,
        "ATLASCLOUD_BASE_URL": fake.base_url,
        "DEEPSEEK_MCP_OCR_CONCURRENCY": str(concurrency),
        "PATH": os.environ.get("PATH", ""),
    }
    before = _children(os.getpid())
    params = StdioServerParameters(command=str(SUBJECT_SCRIPT), env=env, cwd=str(ROOT))
    async with Client(stdio_client(params, errlog=errlog), read_timeout_seconds=REQUEST_TIMEOUT) as client:
        (pid,) = _children(os.getpid()) - before
        yield client, pid


def _children(parent: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                found.add(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def _cpu_ticks(pids: set[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total


def raw_render(pdf_path: Path, quality: int | None) -> tuple[list[float], list[int]]:
    """Seconds and bytes per page for plain pypdfium2 + Pillow in this process: the render-bound floor."""
    import pypdfium2  # type: ignore[import-untyped]

    document = pypdfium2.PdfDocument(str(pdf_path))
    seconds, sizes = [], []
    for index in range(len(document)):
        started = time.perf_counter()
        sizes.append(_raw_page(document, index, quality))
        seconds.append(time.perf_counter() - started)
    document.close()
    return seconds, sizes


async def one_document(
    fake: AtlasFake, errlog: Any, path: Path, pages: int, latency: float, concurrency: int
) -> dict[str, float]:
    await fake.pace(latency, pages)
    async with server(fake, errlog, concurrency) as (client, pid):
        started = time.perf_counter()
        result = await client.call_tool("ocr", {"source": str(path), "mode": "text"})
        wall = time.perf_counter() - started
        if result.is_error:
            raise RuntimeError(f"ocr failed: {result.content}")
        workers = _children(pid)
        peak = _status(pid, "VmHWM") / 1024
        worker_peak = sum(_status(w, "VmHWM") for w in workers) / 1024
    return {"wall": wall, "pages": pages, "server_peak_mb": peak, "workers_peak_mb": worker_peak}


async def cancel_at_tenth(fake: AtlasFake, errlog: Any, path: Path) -> float:
    """Seconds from cancelling at page 10 of 50 until every upstream request is closed and no worker is busy."""
    await fake.pace(0.25, PAGES)
    done = anyio.Event()

    async def progress(value: float, total: float | None, message: str | None) -> None:
        if value >= 10:
            done.set()

    async with server(fake, errlog, 8) as (client, pid):
        async with anyio.create_task_group() as tg:
            arguments = {"source": str(path), "mode": "text"}
            tg.start_soon(lambda: client.call_tool("ocr", arguments, progress_callback=progress))
            await done.wait()
            tg.cancel_scope.cancel()
        cancelled = time.perf_counter()
        while True:
            open_requests = [r for r in await fake.chat_requests() if r["finished"] is None]
            before = _cpu_ticks(_children(pid))
            await anyio.sleep(0.05)
            busy = _cpu_ticks(_children(pid)) != before
            if not open_requests and not busy:
                return time.perf_counter() - cancelled - 0.05
            if time.perf_counter() - cancelled > 10:
                return float("inf")


async def per_page(path: Path) -> tuple[float, float]:
    """Median seconds a page through the renderer (a worker, its pipe and the JSON frame) and raw in-process, the
    two interleaved page by page (alternating which goes first) so that both see the same machine."""
    import pypdfium2  # type: ignore[import-untyped]

    sys.path.insert(0, str(ROOT))
    from mcp_server.media.renderer import PageJob, Rendered, Renderer

    def job(number: int) -> PageJob:
        return PageJob(str(path), number, 144, 1280 * 1280 * 4, 8 * 2**20, JPEG_QUALITY)

    renderer = Renderer(1)
    document = pypdfium2.PdfDocument(str(path))
    ours: list[float] = []
    raw: list[float] = []
    try:
        await renderer.render(job(1))
        for number in range(1, PAGES + 1):
            for side in ("ours", "raw") if number % 2 else ("raw", "ours"):
                started = time.perf_counter()
                if side == "ours":
                    assert isinstance(await renderer.render(job(number)), Rendered)
                    ours.append(time.perf_counter() - started)
                else:
                    _raw_page(document, number - 1, JPEG_QUALITY)
                    raw.append(time.perf_counter() - started)
    finally:
        await renderer.aclose()
        document.close()
    return statistics.median(ours), statistics.median(raw)


def _raw_page(document: Any, index: int, quality: int | None) -> int:
    page = document[index]
    bitmap = page.render(scale=2, rev_byteorder=True)
    img = bitmap.to_pil().convert("RGB")
    buffer = io.BytesIO()
    if quality is None:
        img.save(buffer, "PNG")
    else:
        img.save(buffer, "JPEG", quality=quality)
    bitmap.close()
    page.close()
    return buffer.tell()


def encodings(path: Path) -> list[tuple[str, int, int, float, str]]:
    """(encoding, pixels, bytes, encode ms, same OCR text as PNG) for page 1; tesseract is the OCR, where present."""
    import pypdfium2  # type: ignore[import-untyped]

    document = pypdfium2.PdfDocument(str(path))
    img = document[0].render(scale=2, rev_byteorder=True).to_pil().convert("RGB")
    rows = []
    reference = None
    for name, options in (
        ("PNG level 6", {"format": "PNG"}),
        ("PNG level 1", {"format": "PNG", "compress_level": 1}),
        ("JPEG q85 (sent)", {"format": "JPEG", "quality": 85}),
        ("JPEG q75", {"format": "JPEG", "quality": 75}),
    ):
        timings = []
        for _ in range(5):
            buffer = io.BytesIO()
            started = time.perf_counter()
            img.save(buffer, **options)
            timings.append(time.perf_counter() - started)
        text = _tesseract(buffer.getvalue())
        reference = text if reference is None else reference
        same = "n/a (no tesseract)" if text is None else ("yes" if text == reference else "NO")
        rows.append((name, img.size[0] * img.size[1], buffer.tell(), statistics.median(timings) * 1000, same))
    return rows


def _tesseract(data: bytes) -> str | None:
    try:
        done = subprocess.run(["tesseract", "stdin", "stdout"], input=data, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.decode() if done.returncode == 0 else None


async def run(errlog: Any, quick: bool) -> Result:
    rows: list[Row] = []
    notes: list[str] = []
    raw_figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fifty.pdf"
        path.write_bytes(text_pdf(PAGES))
        ten = Path(folder) / "ten.pdf"
        ten.write_bytes(text_pdf(10))
        render_seconds, _ = raw_render(path, JPEG_QUALITY)
        render_bound = sum(render_seconds)
        fake = AtlasFake()
        try:
            for latency in (0.0, 2.0):
                figures = await one_document(fake, errlog, path, PAGES, latency, 8)
                floor = max(render_bound, math.ceil(PAGES / 8) * latency)
                raw_figures[f"latency_{latency}"] = figures
                rows.append(_row(f"50-page PDF, {latency:g} s a page, wall", figures["wall"], floor, 1.25))
                peak = figures["server_peak_mb"] + figures["workers_peak_mb"]
                shown = f"{PAGES / figures['wall']:.1f} p/s; {figures['server_peak_mb']:.0f} + "
                shown += f"{figures['workers_peak_mb']:.0f} MB"
                rows.append(Row("  pages/s; peak RSS server + workers", shown, "", "", "", "< 400 MB", peak < 400))
            small = await one_document(fake, errlog, ten, 10, 0.0, 8)
            big = raw_figures["latency_0.0"]
            growth = big["server_peak_mb"] - small["server_peak_mb"]
            shown = (f"{big['server_peak_mb']:.0f} MB", f"{small['server_peak_mb']:.0f} MB", f"{growth:+.0f} MB")
            rows.append(Row("peak RSS, 50 pages vs 10 (server)", *shown, "", "<= +20 MB", growth <= 20))
            cancel = await cancel_at_tenth(fake, errlog, path)
            stopped = f"{cancel * 1000:.0f} ms"
            rows.append(Row("cancel at page 10 of 50: all stopped", stopped, "", "", "", "<= 1 s", cancel <= 1.0))
            sweep = (3, 16, 32) if not quick else ()
            for concurrency in sweep:
                figures = await one_document(fake, errlog, path, PAGES, 2.0, concurrency)
                floor = max(render_bound, math.ceil(PAGES / concurrency) * 2.0)
                peak = figures["server_peak_mb"] + figures["workers_peak_mb"]
                ratio = f"{figures['wall'] / floor:.2f}x"
                case = f"  concurrency {concurrency}, 2 s a page"
                rows.append(
                    Row(case, f"{figures['wall']:.2f} s", f"{floor:.2f} s", "", ratio, f"peak {peak:.0f} MB", None)
                )
        finally:
            await fake.aclose()
        ours, raw = await per_page(path)
        rows.append(_row("one page render + encode", ours, raw, 1.1))
        for name, pixels, size, encode_ms, same in encodings(path):
            shown = f"{size / 1024:.0f} KiB, {encode_ms:.1f} ms"
            rows.append(Row(f"  {name}", shown, f"{pixels / 1e6:.2f} Mpx", "", "", f"same text: {same}", None))
    notes.append(
        f"OCR: render-bound floor {render_bound:.2f} s = raw pypdfium2 + JPEG q{JPEG_QUALITY} of {PAGES} pages in one "
        f"process; the server renders on {os.cpu_count()} worker processes, 8 pages in flight with the model."
    )
    return Result(rows, raw_figures, notes)


def _row(case: str, subject: float, floor: float, target: float) -> Row:
    ratio = subject / floor if floor else float("inf")
    unit = "ms" if subject < 1 else "s"
    shown = (lambda v: f"{v * 1000:.1f} ms") if unit == "ms" else (lambda v: f"{v:.2f} s")
    return Row(case, shown(subject), shown(floor), "", f"{ratio:.2f}x", f"<= {target:g}x", ratio <= target)
