"""Memory and time bounded by the limits, not by what is sent (issue 10): the largest accepted image and PDF page
stay under 500 MB of peak RSS in the installed server, garbage OCR output parses in linear time, and PDFs being
rendered can neither starve the other calls nor outlive their cancellation."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from PIL import Image, ImageDraw

from mcp_server import grounding
from mcp_server.media import pdf as pdf_module
from tests.conftest import ATLAS_KEY, connect, make_settings
from tests.fake_upstream import FakeUpstream
from tests.reliability.conftest import StdioServer, server_env, stdio_server, text_of
from tests.samples import blank_pdf, pdf, png

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


async def test_slow_pdfs_neither_starve_other_calls_nor_outlive_their_cancellation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered: list[float] = []
    original = pdf_module._rasterise_page

    def slow(page: Any, limits: Any) -> Any:
        time.sleep(0.2)  # a heavy page; the lock makes every PDF wait its turn
        rendered.append(time.monotonic())
        return original(page, limits)

    monkeypatch.setattr(pdf_module, "_rasterise_page", slow)
    (tmp_path / "doc.pdf").write_bytes(pdf(*[100] * 6))
    (tmp_path / "scan.png").write_bytes(png())
    with FakeUpstream("atlas", ATLAS_KEY) as atlas:
        async with connect(make_settings(atlas=atlas)) as client, anyio.create_task_group() as tg:
            for _ in range(15):  # 45 pages in flight at once: more than anyio's 40 default threads
                tg.start_soon(client.call_tool, "ocr", {"source": str(tmp_path / "doc.pdf")})
            await anyio.sleep(0.3)
            with anyio.fail_after(5):  # an image call still gets its threads
                image = await client.call_tool("ocr", {"source": str(tmp_path / "scan.png")})
            tg.cancel_scope.cancel()
            cancelled_at = time.monotonic()
        finished_at = time.monotonic()
        await anyio.sleep(1.0)
    assert not image.is_error, text_of(image)
    assert finished_at - cancelled_at < 1.0  # the cancelled calls did not wait for their pages
    late = [t for t in rendered if t > cancelled_at + 0.3]
    assert len(late) <= 1, f"{len(late)} pages rendered after the cancel"
