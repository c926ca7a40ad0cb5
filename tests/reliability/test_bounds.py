"""Memory and time bounded by the limits, not by what is sent (issue 10): the largest accepted image and PDF page
stay under 500 MB of peak RSS in the installed server, garbage OCR output parses in linear time, and PDFs being
rendered can neither hold up the other calls nor outlive their cancellation, and a page past its time is stopped."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest
from PIL import Image, ImageDraw

from mcp_server.media import grounding
from tests.conftest import ATLAS_KEY, connect, make_settings
from tests.fake_upstream import FakeUpstream
from tests.reliability.conftest import StdioServer, server_env, stdio_server, text_of
from tests.samples import blank_pdf, heavy_pdf, pdf, png

pytestmark = [pytest.mark.reliability, pytest.mark.anyio]
PEAK_BUDGET_KIB = 500 * 1024


@pytest.fixture(scope="module")
def atlas_upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream("atlas", ATLAS_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def server(atlas_upstream: FakeUpstream, workdir: Path) -> Iterator[StdioServer]:
    with stdio_server(server_env(atlas=atlas_upstream), workdir) as live:
        yield live


def _peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM line")


def _largest_accepted_image(path: Path) -> None:
    # 7071 x 7071 x RGBA: just under the 50 Mpx decoding cap, 200 MB decoded, a small file on disk.
    with Image.new("RGBA", (7071, 7071), (255, 255, 255, 255)) as img:
        ImageDraw.Draw(img).text((50, 50), "the largest image this server decodes", fill="black")
        img.save(path, compress_level=1)


def test_the_largest_accepted_image_and_a_huge_pdf_page_stay_under_500_mb_peak(
    server: StdioServer, workdir: Path, atlas_upstream: FakeUpstream
) -> None:
    _largest_accepted_image(workdir / "largest.png")
    (workdir / "huge-page.pdf").write_bytes(blank_pdf(14400, 14400))  # one 200 x 200 inch page
    image = server.call("ocr", {"source": str(workdir / "largest.png")}, timeout=120)
    page = server.call("ocr", {"source": str(workdir / "huge-page.pdf")}, timeout=120)
    peak = _peak_kib(server.pid)
    assert not image.is_error and not page.is_error, (text_of(image), text_of(page))
    assert "downscaled from 7071x7071" in text_of(image) and "rendered at" in text_of(page)
    assert peak < PEAK_BUDGET_KIB, f"peak RSS {peak / 1024:.0f} MiB"
    print(f"peak RSS after the largest image and a 200-inch page: {peak / 1024:.0f} MiB")


def test_an_image_one_pixel_over_the_cap_is_refused_and_sent_nowhere(
    server: StdioServer, workdir: Path, atlas_upstream: FakeUpstream
) -> None:
    atlas_upstream.reset()
    with Image.new("1", (50_000_001, 1)) as img:
        img.save(workdir / "wide.png")
    result = server.call("ocr", {"source": str(workdir / "wide.png")})
    assert result.is_error and "over the 50 megapixels this server decodes" in text_of(result)
    assert atlas_upstream.requests == []


@pytest.mark.parametrize(
    "unit",
    [
        "<|ref|>x",
        "<|ref|>t<|/ref|><|det|>" + "x" * 50,
        "<|det|>[[1, 2",
        "title[[1, 2, 3, 4]\n",
        "<",
        "<|ref|>a<|/ref|>",
    ],
)
def test_garbage_ocr_output_parses_in_linear_time(unit: str) -> None:
    # A ratio in one run: eight times the text must not take sixty-four times as long (96 KB of unclosed refs
    # took 6.7 s before).
    def timed(size: int) -> float:
        text = unit * (size // len(unit))
        started = time.perf_counter()
        grounding.parse(text, 1000, 1000)
        return time.perf_counter() - started

    small = min(timed(100_000) for _ in range(3))
    large = min(timed(800_000) for _ in range(3))
    assert large < 24 * small + 0.05, (small, large)


def _workers() -> set[int]:
    """Rendering worker processes that are children of this test process."""
    me, found = str(os.getpid()), set()
    for entry in Path("/proc").iterdir():
        try:
            ours = entry.name.isdigit() and (entry / "stat").read_text().rpartition(")")[2].split()[1] == me
            if ours and b"mcp_server.media.pdf_worker" in (entry / "cmdline").read_bytes():
                found.add(int(entry.name))
        except OSError:
            continue
    return found


async def _until(done: Callable[[], bool], within: float) -> None:
    """Poll a fact about the operating system (there is no event to wait on for a process to appear or end)."""
    with anyio.fail_after(within):
        while not done():  # noqa: ASYNC110 - /proc offers no event
            await anyio.sleep(0.05)


async def test_a_cancelled_pdf_stops_rendering_at_once_and_others_are_served_meanwhile(tmp_path: Path) -> None:
    (tmp_path / "dense.pdf").write_bytes(heavy_pdf(4))  # seconds a page
    (tmp_path / "scan.png").write_bytes(png())
    with FakeUpstream("atlas", ATLAS_KEY) as atlas:
        async with connect(make_settings(atlas=atlas)) as client:
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.call_tool, "ocr", {"source": str(tmp_path / "dense.pdf")})
                await _until(lambda: len(_workers()) == 2, 10)  # both workers are on dense pages now
                started = time.monotonic()
                image = await client.call_tool("ocr", {"source": str(tmp_path / "scan.png")})
                image_took = time.monotonic() - started
                tg.cancel_scope.cancel()
                cancelled_at = time.monotonic()
            returned_at = time.monotonic()
            await _until(lambda: not _workers(), 2)
            stopped_at = time.monotonic()
            again = await client.call_tool("ocr", {"source": str(tmp_path / "scan.png")})
    assert not image.is_error and image_took < 2.0, (text_of(image), image_took)
    assert returned_at - cancelled_at < 1.0 and stopped_at - cancelled_at < 1.0
    assert atlas.chat_requests()[0].json["model"] == "deepseek-ai/deepseek-ocr" and not again.is_error


async def test_a_page_past_the_time_limit_is_stopped_and_its_worker_replaced(tmp_path: Path) -> None:
    from mcp_server.media.renderer import Failed, PageJob, Rendered, Renderer

    (tmp_path / "dense.pdf").write_bytes(heavy_pdf(1))
    (tmp_path / "plain.pdf").write_bytes(pdf(100))
    renderer = Renderer(1, page_timeout=0.3)
    try:

        def job(name: str) -> PageJob:
            return PageJob(str(tmp_path / name), 1, 144, 6_553_600, 8 * 2**20, 85)

        slow = await renderer.render(job("dense.pdf"))
        quick = await renderer.render(job("plain.pdf"))
    finally:
        await renderer.aclose()
    assert (isinstance(slow, Failed) and "took longer than 0 s" in slow.message) or "took longer" in str(slow)
    assert isinstance(quick, Rendered) and (quick.width, quick.height) == (144, 200)


async def test_a_page_holding_a_huge_image_renders_in_bounded_memory(tmp_path: Path) -> None:
    # pdfium decodes an embedded image downsampled to the bitmap it renders: a 144 Mpx scan (430 MB as RGB)
    # costs the worker tens of MB, and the address-space cap (1 GiB) stops whatever would cost more.
    with Image.new("L", (12000, 12000), 255) as img:
        ImageDraw.Draw(img).text((100, 100), "a scan at 1,200 dpi", fill=0)
        img.save(tmp_path / "scan.pdf", "PDF", resolution=1200)
    with FakeUpstream("atlas", ATLAS_KEY) as atlas:
        async with connect(make_settings(atlas=atlas)) as client:
            result = await client.call_tool("ocr", {"source": str(tmp_path / "scan.pdf")})
            peaks = [_peak_kib(pid) for pid in _workers()]
        assert len(atlas.chat_requests()) == 1
    assert not result.is_error, text_of(result)
    page = result.structured_content["pages"][0]  # type: ignore[index]
    assert (page["original_width"], page["original_height"]) == (1440, 1440)
    assert peaks and max(peaks) < 400 * 1024, peaks


async def test_a_ten_thousand_page_pdf_needs_a_selection_and_a_zero_page_one_is_refused(tmp_path: Path) -> None:
    (tmp_path / "long.pdf").write_bytes(blank_pdf(72, 72, pages=10_000))
    (tmp_path / "none.pdf").write_bytes(blank_pdf(72, 72, pages=0))
    with FakeUpstream("atlas", ATLAS_KEY) as atlas:
        async with connect(make_settings(atlas=atlas)) as client:
            with anyio.fail_after(30):
                whole = await client.call_tool("ocr", {"source": str(tmp_path / "long.pdf")})
                tail = await client.call_tool("ocr", {"source": str(tmp_path / "long.pdf"), "pages": "9996-"})
                empty = await client.call_tool("ocr", {"source": str(tmp_path / "none.pdf")})
        sent = len(atlas.chat_requests())
    assert whole.is_error and "has 10000 pages, more than the 50 one call can take" in text_of(whole)
    assert not tail.is_error and [p["page"] for p in tail.structured_content["pages"]] == [
        9996,
        9997,
        9998,
        9999,
        10000,
    ]  # type: ignore[index]
    assert empty.is_error and "is a PDF without pages" in text_of(empty) and sent == 5
