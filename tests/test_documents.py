"""Whole documents for DeepSeek's OCR API: Office files told from other ZIPs by their parts with bounded reading, a
local file opened but never read whole, and PDF page selections copied into a PDF of their own."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from mcp_server import media
from mcp_server.core.errors import InputError
from mcp_server.media.formats import describe, sniff
from mcp_server.media.office import MAX_ENTRIES, _directory_bounds, office_kind
from mcp_server.policy.access import FileAccess
from tests.conftest import rendering
from tests.samples import docx, pdf, png, pptx, xlsx

pytestmark = pytest.mark.anyio
FILES = FileAccess(roots=None, remote=False)


def _zip(names: list[str], **options: object) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", **options) as archive:  # type: ignore[arg-type]
        for name in names:
            archive.writestr(name, b"")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (docx("a", "b"), "docx"),
        (pptx("slide"), "pptx"),
        (xlsx(), None),
        (_zip(["word/document.xml"]), None),  # Word parts without [Content_Types].xml
        (_zip(["[Content_Types].xml", "other/thing.xml"]), None),
        (_zip(["readme.txt"]), None),
        (b"PK\x03\x04 not really a zip", None),
    ],
)
def test_only_word_and_powerpoint_zips_are_office_files(data: bytes, kind: str | None) -> None:
    assert sniff(data) == kind
    if kind is None:
        assert describe(data).startswith("a ZIP archive")


def test_a_zip_with_more_entries_than_any_office_file_is_refused_from_its_end_record() -> None:
    names = ["[Content_Types].xml", "word/document.xml", *(f"f/{n}" for n in range(MAX_ENTRIES + 1))]
    data = _zip(names)
    entries, _ = _directory_bounds(io.BytesIO(data), len(data)) or (0, 0)
    assert entries == MAX_ENTRIES + 3 and office_kind(io.BytesIO(data), len(data)) is None
    assert office_kind(io.BytesIO(data[:-22]), len(data) - 22) is None  # no end record at all


def test_a_zip64_directory_is_read_from_its_zip64_record(tmp_path: Path) -> None:
    # Past 65,535 entries zipfile writes ZIP64 end records; the entry count there is what bounds the directory.
    names = ["[Content_Types].xml", "word/document.xml", *(f"f/{n}" for n in range(65_536))]
    data = _zip(names)
    assert b"PK\x06\x06" in data[-200:]
    assert (_directory_bounds(io.BytesIO(data), len(data)) or (0, 0))[0] == 65_538
    assert office_kind(io.BytesIO(data), len(data)) is None


async def test_a_local_pdf_is_uploaded_from_the_open_file_not_a_copy_in_memory(tmp_path: Path) -> None:
    (tmp_path / "a.pdf").write_bytes(pdf(50, 60, 70))
    async with rendering() as renderer:
        document = await media.open_document(
            str(tmp_path / "a.pdf"),
            pages=None,
            max_bytes=2**20,
            max_pages=10,
            base_dir=tmp_path,
            files=FILES,
            renderer=renderer,
        )
    try:
        assert isinstance(document.upload, io.BufferedReader) and document.numbers == [1, 2, 3]
        assert document.sizes == {1: (144, 100), 2: (144, 120), 3: (144, 140)}  # 72 pt wide at 144 dpi
        assert (document.filename, document.mime, document.size) == ("document.pdf", "application/pdf", document.size)
    finally:
        document.close()
    assert document.upload.closed


async def test_a_partial_selection_is_a_new_pdf_of_just_those_pages(tmp_path: Path) -> None:
    import pypdfium2  # type: ignore[import-untyped]

    (tmp_path / "a.pdf").write_bytes(pdf(50, 60, 70, 80))
    async with rendering() as renderer:
        document = await media.open_document(
            str(tmp_path / "a.pdf"),
            pages="4,2",
            max_bytes=2**20,
            max_pages=10,
            base_dir=tmp_path,
            files=FILES,
            renderer=renderer,
        )
    try:
        copy = pypdfium2.PdfDocument(document.upload.read())
        assert [copy.get_page_size(i)[1] for i in range(len(copy))] == [60, 80] and document.numbers == [2, 4]
        copy.close()
    finally:
        document.close()


@pytest.mark.parametrize(
    ("name", "data", "pages", "says"),
    [
        ("a.png", png(), "2", "there is no page 2"),
        ("a.docx", docx("x"), "1-x", "invalid pages"),
        ("a.txt", b"plain text here", None, "looks like text"),
        ("empty.pdf", b"", None, "empty"),
    ],
)
async def test_bad_documents_are_refused_with_the_reason(
    tmp_path: Path, name: str, data: bytes, pages: str | None, says: str
) -> None:
    (tmp_path / name).write_bytes(data)
    with pytest.raises(InputError, match=says):
        async with rendering() as renderer:
            await media.open_document(
                str(tmp_path / name),
                pages=pages,
                max_bytes=2**20,
                max_pages=10,
                base_dir=tmp_path,
                files=FILES,
                renderer=renderer,
            )
