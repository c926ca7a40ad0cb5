"""How `pages` reaches DeepSeek's OCR API: copy the selected pages into a PDF of their own (what the server does)
versus uploading the whole file and dropping pages from the answer. Prints a table; nothing here runs in CI.

    .venv/bin/python bench/ocr_pages.py            # about 30 s, most of it building the sample PDFs

The sample PDFs hold one 1000x1400 JPEG per page (a scanned page, ~120 KB), the case where the copy has the most
bytes to carry. Each plan (the private copy of the file, counting and sizing in a rendering worker, the extract) is
timed five times, the path the tool runs; the median is shown. The OCR API bills per page it reads, so the
whole-file alternative costs every page, and it also spends upload time and the API's 180 s on pages not wanted.
"""

from __future__ import annotations

import io
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import anyio  # noqa: E402
from PIL import Image  # noqa: E402 - after the path set-up, so the checkout's package is measured

from mcp_server.media.pdf_extract import plan_pdf  # noqa: E402
from mcp_server.media.renderer import Renderer  # noqa: E402
from mcp_server.spending import pricing  # noqa: E402


def scanned_pdf(pages: int) -> bytes:
    rng = random.Random(pages)
    tiles = []
    for n in range(4):  # a few distinct page images, reused: pdf writers store each page's own copy anyway
        img = Image.effect_noise((1000, 1400), 40 + 10 * n).convert("RGB")
        tiles.append(img)
    buffer = io.BytesIO()
    frames = [tiles[rng.randrange(4)] for _ in range(pages)]
    frames[0].save(buffer, "PDF", resolution=144, save_all=True, append_images=frames[1:], quality=70)
    return buffer.getvalue()


async def timed(renderer: Renderer, data: bytes, spec: str) -> tuple[float, int, int]:
    """(median seconds, bytes uploaded, pages uploaded) for one selection."""
    runs = []
    sent, chosen = len(data), 0
    for _ in range(5):
        started = time.perf_counter()
        plan = await plan_pdf(io.BytesIO(data), "bench.pdf", spec, 1000, 144, renderer)
        runs.append(time.perf_counter() - started)
        chosen = len(plan.numbers)
        if plan.extract is not None:
            sent = len(plan.extract.read())
            plan.extract.close()
    return statistics.median(runs), sent, chosen


async def main() -> None:
    rows = []
    renderer = Renderer(1)
    for pages in (50, 150):  # 150 such pages are 92 MiB, near the 100 MiB the API (and this server) takes
        data = scanned_pdf(pages)
        for spec in ("1", "1-3", f"1-{pages // 2}", f"1-{pages - 1}"):
            seconds, sent, chosen = await timed(renderer, data, spec)
            whole = pages * pricing.OCR_API_PER_PAGE
            rows.append((pages, len(data), spec, chosen, seconds, sent, chosen * pricing.OCR_API_PER_PAGE, whole))
    header = ("PDF pages", "PDF MiB", "pages", "sent pages", "copy ms", "copy MiB", "cost sent $", "cost whole $")
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for pages, size, spec, chosen, seconds, sent, cost, whole in rows:
        cells = (pages, f"{size / 2**20:.1f}", spec, chosen, f"{seconds * 1000:.1f}", f"{sent / 2**20:.2f}")
        print(" | ".join(str(c) for c in cells) + f" | {cost:.6f} | {whole:.6f}")
    await renderer.aclose()


if __name__ == "__main__":
    anyio.run(main)
