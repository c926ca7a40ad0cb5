"""What a binary file holds one level down, where a program reads it and a scan of its bytes cannot.

The readers that send text (`files`, `investigate`, `review`) never send a binary file, so for them the scan of the
bytes is the whole story. `delegate` copies binary files too (a test's fixtures), and the check runs code the model
wrote over them: a key in `db_backup.sql.gz`, in a `Deploy.ps1` Windows saved as UTF-16, in an `.xlsx` (a zip of
XML) or in a PDF's compressed streams would be decoded and printed in a spelling no scan of the output knows. So
these are decoded here, within a budget, and scanned like text: UTF-16 and UTF-32 text (a byte-order mark, or a NUL
beside every ASCII letter), gzip, bzip2 and xz streams, zip archives (docx, xlsx, odt, jar, whl ...: every member,
and one more level inside each), and a PDF's Flate streams. What cannot be read within the budget, an encrypted
zip member, or a format the standard library cannot open (7z, rar, zstd) is unscannable, and left out like a key.
A PDF's text split by kerning (`[(sk-4f)-20(9a...)]TJ`) is not joined: the scan sees its pieces.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import zipfile
import zlib
from collections.abc import Iterator

from mcp_server.policy.scan import Scanner

MAX_INSIDE = 64 * 2**20  # bytes decoded from one file, all levels together
MAX_MEMBERS = 5_000  # members of one zip archive
MAX_DEPTH = 2  # containers inside containers (a jar in a war; a gzip in a zip)
_CHUNK = 1 << 20
_STREAMS = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz"}
_OPAQUE = {b"7z\xbc\xaf\x27\x1c": "7z", b"Rar!\x1a\x07": "rar", b"\x28\xb5\x2f\xfd": "zstd"}
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
_PDF_STREAM = re.compile(rb"/FlateDecode[^>]{0,200}>>\s*stream\r?\n")


class Unscannable(Exception):
    """Content that cannot be decoded within the budget, or at all: it is left out, as a key would be."""


def views(data: bytes, budget: list[int] | None = None, depth: int = 0) -> Iterator[tuple[str, bytes]]:
    """(what it is, its decoded bytes) for each layer `data` holds (none for plain bytes); Unscannable as said
    above. `budget` is the bytes still to decode, shared by every level."""
    budget = budget if budget is not None else [MAX_INSIDE]
    if depth > MAX_DEPTH:
        return
    opaque = next((name for magic, name in _OPAQUE.items() if data.startswith(magic)), None)
    if opaque is not None:
        raise Unscannable(f"a {opaque} archive, whose content cannot be scanned here")
    text = _wide_text(data)
    if text is not None:
        yield text, _spent(data.decode(text, "replace").encode("utf-8", "surrogatepass"), budget)
        return
    inner: list[tuple[str, bytes]] = []
    stream = next((name for magic, name in _STREAMS.items() if data.startswith(magic)), None)
    if stream is not None:
        inner = [(stream, _decompressed(stream, data, budget))]
    elif data.startswith(_ZIP):
        inner = list(_members(data, budget))
    elif data.startswith(b"%PDF-"):
        inner = [("a PDF stream", stream) for stream in _pdf_streams(data, budget)]
    for kind, content in inner:
        yield kind, content
        for deeper, more in views(content, budget, depth + 1):
            yield f"{deeper} in {kind}", more


def _wide_text(data: bytes) -> str | None:
    """The codec of UTF-16 or UTF-32 text, by its byte-order mark or its NULs; None for anything else."""
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "utf-32"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    head = data[:512]
    if len(head) >= 16 and len(head) % 2 == 0:
        even, odd = head[0::2], head[1::2]
        if odd.count(0) > len(odd) * 0.6 and even.count(0) < len(even) * 0.1:
            return "utf-16-le"
        if even.count(0) > len(even) * 0.6 and odd.count(0) < len(odd) * 0.1:
            return "utf-16-be"
    return None


def _spent(data: bytes, budget: list[int]) -> bytes:
    budget[0] -= len(data)
    if budget[0] < 0:
        raise Unscannable(f"it decodes to more than {MAX_INSIDE // 2**20} MiB, past what is scanned")
    return data


def _decompressed(kind: str, data: bytes, budget: list[int]) -> bytes:
    """A whole gzip, bzip2 or xz stream (concatenated members too), never past the budget."""
    out = bytearray()
    try:
        with _reader(kind, io.BytesIO(data)) as reader:
            while chunk := reader.read(min(_CHUNK, budget[0] - len(out) + 1)):
                out += chunk
                if len(out) > budget[0]:
                    break
    except (OSError, EOFError, lzma.LZMAError, ValueError) as e:
        raise Unscannable(f"a {kind} stream that does not decode ({type(e).__name__})") from None
    return _spent(bytes(out), budget)


def _reader(kind: str, file: io.BytesIO) -> io.BufferedIOBase:
    if kind == "gzip":
        return gzip.GzipFile(fileobj=file)
    return bz2.BZ2File(file) if kind == "bzip2" else lzma.LZMAFile(file)


def _members(data: bytes, budget: list[int]) -> Iterator[tuple[str, bytes]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise Unscannable(f"a zip archive that does not open ({type(e).__name__})") from None
    if len(infos) > MAX_MEMBERS:
        raise Unscannable(f"a zip archive of more than {MAX_MEMBERS:,} members")
    for info in infos:
        if info.flag_bits & 0x1:
            raise Unscannable(f"an encrypted zip member ({info.filename[:100]})")
        if info.is_dir():
            continue
        if info.file_size > budget[0]:
            raise Unscannable(f"it decodes to more than {MAX_INSIDE // 2**20} MiB, past what is scanned")
        try:
            with archive.open(info) as member:
                content = member.read(budget[0] + 1)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, lzma.LZMAError) as e:
            raise Unscannable(f"a zip member that does not decode ({type(e).__name__})") from None
        yield f"{info.filename[:100]} (a zip member)", _spent(content, budget)


def _pdf_streams(data: bytes, budget: list[int]) -> Iterator[bytes]:
    """A PDF's Flate-compressed streams, each decompressed within the budget (a broken one is skipped: a reader
    cannot show it either)."""
    view = memoryview(data)
    for match in _PDF_STREAM.finditer(data):
        inflate = zlib.decompressobj()
        try:
            content = inflate.decompress(view[match.end() : match.end() + 16 * _CHUNK], budget[0] + 1)
        except zlib.error:
            continue
        yield _spent(content, budget)


def hidden(scanner: Scanner, data: bytes) -> str | None:
    """Why bytes may not be handed to a program that decodes them: a secret in a layer they hold ("it holds a private
    key (line 3 of its gzip stream)"), or a layer that cannot be scanned; None when every layer is clean."""
    try:
        for kind, content in views(data):
            finding = scanner.find_bytes(content)
            if finding is not None:
                return f"it holds {finding.kind} (line {finding.line} of its {kind})"
    except Unscannable as e:
        return f"its content cannot be scanned for keys: {e}"
    return None
