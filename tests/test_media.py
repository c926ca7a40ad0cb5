"""Loading OCR sources: sniffing, validation, shrinking images and rasterising PDFs."""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import anyio
import pypdfium2  # type: ignore[import-untyped]  # ships no type information
import pytest
from PIL import Image

from mcp_server.core.errors import InputError
from mcp_server.media import ImagePart, Limits, files, notes_for, open_source, parse_pages, sniff
from mcp_server.policy.access import FileAccess
from tests.conftest import rendering
from tests.samples import drawn, encode, encrypted_pdf, pdf, png

pytestmark = pytest.mark.anyio

SMALL = Limits()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def decoded(part: ImagePart) -> bytes:
    header, _, payload = part.url.partition(",")
    assert header == f"data:{part.mime};base64"
    return base64.b64decode(payload)


def opened(part: ImagePart) -> Image.Image:
    return Image.open(BytesIO(decoded(part)))


ANY_FILE = FileAccess(roots=None, remote=False)  # stdio without DEEPSEEK_MCP_FILE_ROOTS


@dataclass(frozen=True)
class Loaded:
    kind: str
    page_count: int
    pages: list[ImagePart]
    notes: list[str]


async def load(source: str, tmp_path: Path, pages: str | None = None, limits: Limits = SMALL) -> Loaded:
    """A source opened and every selected page rendered, as the ocr tool does it."""
    async with rendering() as workers:
        opened = await open_source(
            source, pages=pages, limits=limits, base_dir=tmp_path, files=ANY_FILE, renderer=workers
        )
        async with opened:
            parts = [await opened.render(number) for number in opened.page_numbers]
    return Loaded(opened.kind, opened.page_count, parts, notes_for(opened, parts))


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- sniffing ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (png(), "png"),
        (encode(drawn((40, 40)), "JPEG"), "jpeg"),
        (encode(drawn((40, 40)), "WEBP"), "webp"),
        (encode(drawn((40, 40)), "GIF"), "gif"),
        (pdf(100), "pdf"),
        (b"junk before the header\n%PDF-1.7\n", "pdf"),
        (b"hello, world", None),
        (b"PK\x03\x04rest of a zip", None),
        (b"", None),
    ],
)
def test_sniff_names_formats_by_their_bytes(data: bytes, expected: str | None) -> None:
    assert sniff(data) == expected


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"just some notes\nnothing secret\n", "text"),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00zipzipzip", "a ZIP archive"),
        (b"\x7fELF\x02\x01\x01\x00" + bytes(64), "an ELF executable"),
        (b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n", "a PEM key or certificate"),
        (bytes(range(256)), "unknown binary data"),
    ],
)
async def test_a_non_image_named_png_is_refused_without_echoing_it(tmp_path: Path, content: bytes, kind: str) -> None:
    path = write(tmp_path, "photo.png", content)

    with pytest.raises(InputError) as caught:
        await load(str(path), tmp_path)

    message = str(caught.value)
    assert f"{path} is not an image or PDF, whatever its name says" in message
    assert f"looks like {kind}" in message
    assert "nothing secret" not in message
    assert "b3BlbnNzaC1rZXk" not in message
    assert "BEGIN" not in message


async def test_a_png_named_txt_is_accepted(tmp_path: Path) -> None:
    data = png()
    document = await load(str(write(tmp_path, "notes.txt", data)), tmp_path)

    assert document.kind == "image"
    assert decoded(document.pages[0]) == data


# --- images --------------------------------------------------------------------------------------------------------


async def test_a_small_png_is_sent_byte_for_byte(tmp_path: Path) -> None:
    data = png((120, 60))

    document = await load(str(write(tmp_path, "small.png", data)), tmp_path)

    (part,) = document.pages
    assert (document.kind, document.page_count, document.notes) == ("image", 1, [])
    assert decoded(part) == data
    assert (part.mime, part.width, part.height, part.resized, part.page) == ("image/png", 120, 60, False, None)
    assert part.byte_size == len(data)


@pytest.mark.parametrize(("fmt", "mime"), [("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("GIF", "image/gif")])
async def test_other_formats_within_limits_pass_unchanged(tmp_path: Path, fmt: str, mime: str) -> None:
    data = encode(drawn((50, 30)), fmt)

    (part,) = (await load(base64.b64encode(data).decode(), tmp_path)).pages

    assert (part.mime, part.width, part.height, part.resized) == (mime, 50, 30, False)
    assert decoded(part) == data


async def test_an_image_over_the_pixel_limit_is_downscaled_keeping_its_aspect_ratio(tmp_path: Path) -> None:
    path = write(tmp_path, "big.png", png((400, 200)))

    document = await load(str(path), tmp_path, limits=Limits(max_image_pixels=5000))

    (part,) = document.pages
    # sqrt(5000 / 80000) = 0.25
    assert (part.width, part.height, part.original_width, part.original_height) == (100, 50, 400, 200)
    assert part.resized
    assert part.mime == "image/jpeg"  # no alpha, so JPEG
    with opened(part) as sent:
        assert (sent.format, sent.size) == ("JPEG", (100, 50))
    assert document.notes == ["image downscaled from 400x200 to 100x50 to fit the provider's limits"]


async def test_an_image_over_the_byte_limit_is_reencoded_until_it_fits(tmp_path: Path) -> None:
    noise = Image.frombytes("RGB", (300, 300), os.urandom(300 * 300 * 3))  # incompressible
    data = encode(noise, "PNG")
    assert len(data) > 200_000

    (part,) = (await load(base64.b64encode(data).decode(), tmp_path, limits=Limits(max_image_bytes=30_000))).pages

    assert part.resized
    assert part.byte_size == len(decoded(part)) <= 30_000
    assert part.width is not None
    assert part.height is not None
    assert part.width == part.height < 300


async def test_a_transparent_image_is_reencoded_as_png(tmp_path: Path) -> None:
    data = png((200, 100), mode="RGBA")

    (part,) = (await load(base64.b64encode(data).decode(), tmp_path, limits=Limits(max_image_pixels=5000))).pages

    assert part.mime == "image/png"
    with opened(part) as sent:
        assert (sent.mode, sent.size) == ("RGBA", (100, 50))


async def test_an_animated_gif_that_needs_shrinking_sends_its_first_frame_as_png(tmp_path: Path) -> None:
    frames = [drawn((200, 100), text=str(n)) for n in range(3)]
    buffer = BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    for frame in frames:
        frame.close()

    document = await load(base64.b64encode(buffer.getvalue()).decode(), tmp_path, limits=Limits(max_image_pixels=5000))

    (part,) = document.pages
    assert (part.mime, part.width, part.height) == ("image/png", 100, 50)
    assert "only the first of the GIF's 3 frames was sent" in document.notes


async def test_a_rotated_photo_is_shrunk_upright(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, displayed portrait
    data = encode(drawn((400, 200)), "JPEG", exif=exif.tobytes())

    (part,) = (await load(base64.b64encode(data).decode(), tmp_path, limits=Limits(max_image_pixels=5000))).pages

    assert (part.original_width, part.original_height) == (200, 400)
    assert (part.width, part.height) == (50, 100)


async def test_a_truncated_image_is_refused(tmp_path: Path) -> None:
    data = png((300, 300))
    path = write(tmp_path, "cut.png", data[: len(data) // 2])

    with pytest.raises(InputError, match="looks like a PNG image but cannot be decoded"):
        await load(str(path), tmp_path)


# --- source forms --------------------------------------------------------------------------------------------------


async def test_a_data_url_loads_whatever_mime_it_claims(tmp_path: Path) -> None:
    data = png()

    document = await load(f"data:text/plain;base64,{base64.b64encode(data).decode()}", tmp_path)

    assert document.pages[0].mime == "image/png"
    assert decoded(document.pages[0]) == data


async def test_a_data_url_holding_text_is_refused(tmp_path: Path) -> None:
    source = "data:image/png;base64," + base64.b64encode(b"my diary, do not read").decode()

    with pytest.raises(
        InputError, match=r"the data: URL does not hold an image or PDF \(its content looks like text\)"
    ):
        await load(source, tmp_path)


async def test_a_data_url_that_is_not_base64_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="must be base64-encoded"):
        await load("data:image/png,%89PNG", tmp_path)


async def test_raw_base64_loads_even_when_wrapped_over_lines(tmp_path: Path) -> None:
    data = png()
    text = base64.encodebytes(data).decode()  # 76-character lines
    assert "\n" in text.strip()

    assert decoded((await load(text, tmp_path)).pages[0]) == data


async def test_base64_of_a_jpeg_starting_with_a_slash_is_not_taken_for_a_path(tmp_path: Path) -> None:
    data = encode(drawn((40, 40)), "JPEG")
    text = base64.b64encode(data).decode()
    assert text.startswith("/9j/")

    assert (await load(text, tmp_path)).pages[0].mime == "image/jpeg"


async def test_an_existing_file_wins_over_a_name_that_looks_like_base64(tmp_path: Path) -> None:
    name = "aGVsbG8gd29ybGQh"  # valid base64 for "hello world!"
    with pytest.raises(InputError, match=r"the base64 source does not decode .*; if it is a path, it does not exist"):
        await load(name, tmp_path)

    write(tmp_path, name, png())

    assert (await load(name, tmp_path)).pages[0].mime == "image/png"


async def test_relative_paths_resolve_against_base_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")  # so a cwd-relative lookup could not find it
    write(tmp_path, "scan.png", png())

    assert (await load("scan.png", tmp_path)).kind == "image"


async def test_a_home_relative_path_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    write(tmp_path, "scan.png", png())

    assert (await load("~/scan.png", Path("/nonexistent"))).kind == "image"


async def test_http_urls_pass_through_untouched(tmp_path: Path) -> None:
    document = await load("https://example.com/scan.png?x=1", tmp_path)

    assert document.kind == "url"
    assert document.pages == [
        ImagePart("https://example.com/scan.png?x=1", None, None, None, None, None, False, None, 0)
    ]


async def test_an_overlong_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="at most 8192"):
        await load("https://example.com/" + "a" * 8200, tmp_path)


@pytest.mark.parametrize("source", ["file:///etc/passwd", "ftp://example.com/a.png", "javascript:alert(1)"])
async def test_other_url_schemes_are_refused(tmp_path: Path, source: str) -> None:
    with pytest.raises(InputError, match=r"only http\(s\) URLs, data: URLs, base64 or local paths"):
        await load(source, tmp_path)


async def test_an_empty_source_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="source is empty"):
        await load("   ", tmp_path)


# --- file problems -------------------------------------------------------------------------------------------------


async def test_a_missing_file_is_refused_with_its_full_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=re.escape(f"{tmp_path / 'nope.png'} does not exist")):
        await load("nope.png", tmp_path)


async def test_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "scans").mkdir()

    with pytest.raises(InputError, match="is a directory"):
        await load("scans", tmp_path)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads files whatever their mode")
async def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "locked.png", png())
    path.chmod(0)

    with pytest.raises(InputError, match="permission denied"):
        await load(str(path), tmp_path)


async def test_a_permission_error_while_reading_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path: Path, limit: int, *_: object) -> bytes:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(files, "_read_bytes", refuse)
    path = write(tmp_path, "locked.png", png())

    with pytest.raises(InputError, match=re.escape(f"{path} cannot be read: permission denied")):
        await load(str(path), tmp_path)


async def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is empty"):
        await load(str(write(tmp_path, "empty.png", b"")), tmp_path)


async def test_a_file_over_the_source_limit_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_read(path: Path, limit: int) -> bytes:
        raise AssertionError("read despite its size")

    monkeypatch.setattr(files, "_read_bytes", must_not_read)
    path = write(tmp_path, "big.png", png((200, 200)))

    with pytest.raises(InputError, match=r"big\.png is [\d.]+ KiB; the limit is 100 bytes"):
        await load(str(path), tmp_path, limits=Limits(max_source_bytes=100))


async def test_base64_over_the_source_limit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"the base64 source is .* the limit is"):
        await load(base64.b64encode(png((200, 200))).decode(), tmp_path, limits=Limits(max_source_bytes=100))


# --- PDFs ----------------------------------------------------------------------------------------------------------


async def test_pdf_pages_are_rasterised_at_144_dpi_in_page_order(tmp_path: Path) -> None:
    document = await load(str(write(tmp_path, "doc.pdf", pdf(100, 110, 120))), tmp_path)

    assert (document.kind, document.page_count, document.notes) == ("pdf", 3, [])
    assert [part.page for part in document.pages] == [1, 2, 3]
    assert [(part.width, part.height) for part in document.pages] == [(144, 200), (144, 220), (144, 240)]
    for part in document.pages:
        assert (part.mime, part.resized, part.byte_size) == ("image/jpeg", False, len(decoded(part)))
        with opened(part) as sent:  # JPEG: the same OCR text as PNG in a tenth of the time (bench/README.md)
            assert (sent.format, sent.mode, sent.size) == ("JPEG", "RGB", (part.width, part.height))


async def test_a_page_selection_renders_only_those_pages_in_order(tmp_path: Path) -> None:
    document = await load(str(write(tmp_path, "doc.pdf", pdf(100, 110, 120, 130))), tmp_path, pages="4, 2")

    assert document.page_count == 4
    assert [(part.page, part.height) for part in document.pages] == [(2, 220), (4, 260)]


async def test_a_pdf_over_the_page_limit_needs_a_selection(tmp_path: Path) -> None:
    path = str(write(tmp_path, "doc.pdf", pdf(100, 100, 100)))

    with pytest.raises(InputError, match="has 3 pages, more than the 2 one call can take; choose some with `pages`"):
        await load(path, tmp_path, limits=Limits(max_pages=2))
    assert len((await load(path, tmp_path, pages="2-3", limits=Limits(max_pages=2))).pages) == 2


async def test_a_large_page_is_rendered_smaller_with_a_note(tmp_path: Path) -> None:
    document = await load(str(write(tmp_path, "doc.pdf", pdf(100))), tmp_path, limits=Limits(max_image_pixels=7200))

    (part,) = document.pages
    assert (part.original_width, part.original_height) == (144, 200)
    assert part.width is not None
    assert part.height is not None
    assert part.width * part.height <= 7200
    assert abs(part.width / part.height - 144 / 200) < 0.02
    assert document.notes == [
        f"page 1 rendered at {part.width}x{part.height} instead of 144x200 to fit the provider's limits"
    ]


async def test_an_encrypted_pdf_is_refused_with_advice(tmp_path: Path) -> None:
    data = encrypted_pdf(b"secret")
    probe = pypdfium2.PdfDocument(data, password="secret")  # the fixture really is an openable, encrypted PDF
    assert len(probe) == 1
    probe.close()

    with pytest.raises(InputError, match="is an encrypted PDF; remove its password"):
        await load(str(write(tmp_path, "locked.pdf", data)), tmp_path)


async def test_a_pdf_with_only_an_owner_password_opens(tmp_path: Path) -> None:
    document = await load(str(write(tmp_path, "restricted.pdf", encrypted_pdf(b""))), tmp_path)

    assert [(part.width, part.height) for part in document.pages] == [(144, 144)]


async def test_a_truncated_pdf_is_refused(tmp_path: Path) -> None:
    data = pdf(100, 100)

    with pytest.raises(InputError, match="is not a readable PDF; it may be damaged or truncated"):
        await load(str(write(tmp_path, "cut.pdf", data[: len(data) // 2])), tmp_path)


async def test_pages_can_be_rendered_one_at_a_time_and_concurrently(tmp_path: Path) -> None:
    results: dict[int, ImagePart] = {}
    async with rendering() as workers:
        source = await open_source(
            str(write(tmp_path, "doc.pdf", pdf(100, 110, 120))),
            pages="1-3",
            limits=SMALL,
            base_dir=tmp_path,
            files=ANY_FILE,
            renderer=workers,
        )
        assert (source.kind, source.page_count, source.page_numbers) == ("pdf", 3, [1, 2, 3])

        async def render(number: int) -> None:
            results[number] = await source.render(number)

        with anyio.fail_after(30):
            async with source, anyio.create_task_group() as group:
                for number in source.page_numbers:
                    group.start_soon(render, number)

    assert {number: (part.page, part.height) for number, part in results.items()} == {
        1: (1, 200),
        2: (2, 220),
        3: (3, 240),
    }


async def test_input_errors_surface_when_the_source_is_opened(tmp_path: Path) -> None:
    path = str(write(tmp_path, "doc.pdf", pdf(100, 100)))

    with pytest.raises(InputError, match="there is no page 5"):
        async with rendering() as workers:
            await open_source(path, pages="5", limits=SMALL, base_dir=tmp_path, files=ANY_FILE, renderer=workers)


# --- page selections -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("1-3,7", [1, 2, 3, 7]),
        ("2", [2]),
        ("5-", [5, 6, 7, 8, 9, 10]),
        (" 1 , 3 ", [1, 3]),
        ("3,1,3,2-3", [1, 2, 3]),
        ("1 - 2", [1, 2]),
        (None, list(range(1, 11))),
        ("  ", list(range(1, 11))),
    ],
)
def test_page_selections_parse_sorted_and_deduplicated(spec: str | None, expected: list[int]) -> None:
    assert parse_pages(spec, 10, 50) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("a", 'use page numbers and ranges such as "1-3,7"'),
        ("1-2-3", "use page numbers and ranges"),
        ("1,,2", "use page numbers and ranges"),
        ("1.5", "use page numbers and ranges"),
        ("0", "pages are numbered from 1"),
        ("-3", "pages are numbered from 1"),
        ("0-2", "pages are numbered from 1"),
        ("5-3", "the range 5-3 is reversed; write 3-5"),
        ("11", "there is no page 11; the document has 10 pages"),
        ("9-12", "there is no page 12; the document has 10 pages"),
        ("12-", "there is no page 12; the document has 10 pages"),
    ],
)
def test_bad_page_selections_are_refused(spec: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_pages(spec, 10, 50)


def test_a_single_page_document_says_page_not_pages() -> None:
    with pytest.raises(InputError, match=r"the document has 1 page$"):
        parse_pages("2", 1, 50)


def test_a_selection_larger_than_the_page_limit_is_refused() -> None:
    with pytest.raises(InputError, match="selects 30 pages; one call takes at most 20"):
        parse_pages("1-30", 100, 20)


def test_all_pages_of_a_long_document_need_a_selection() -> None:
    with pytest.raises(InputError, match=r'has 120 pages, more than the 50 one call can take; .*pages="1-50"'):
        parse_pages(None, 120, 50)
