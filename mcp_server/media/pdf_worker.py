"""A PDF rendering worker: `python -m mcp_server.media.pdf_worker`, started by media/renderer.py, one page per request.

Each worker is its own process with its own pdfium, so pages render on every core at once (pdfium is not
thread-safe: in one process they would take turns), a crash or an exploit in pdfium on a hostile PDF stays in a
worker that holds no key (its environment has none), and a page can be stopped by ending its worker. A worker
keeps the last few documents open, so the pages of one PDF do not re-read its cross-reference table each time.

It lives outside the `media` package so that starting it imports nothing but pdfium and Pillow. Requests and
answers cross stdin/stdout as frames of JSON plus raw bytes (`write_frame`); never pickle, since the worker is the
side that reads untrusted input.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import signal
import struct
import sys
import threading
import time
from collections import OrderedDict
from io import BytesIO
from typing import IO, Any

MAX_HEADER = 64 * 1024
MAX_PAYLOAD = 64 * 1024 * 1024
_OPEN_DOCUMENTS = 4
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_WATCH_SECONDS = 1.0
_documents: OrderedDict[str, Any] = OrderedDict()


def write_frame(out: IO[bytes], header: dict[str, Any], payload: bytes = b"") -> None:
    """One message: a JSON header and a payload, each preceded by its length (4 bytes, big-endian)."""
    encoded = json.dumps(header).encode()
    out.write(struct.pack(">I", len(encoded)) + encoded + struct.pack(">I", len(payload)) + payload)
    out.flush()


def parse_lengths(prefix: bytes, limit: int) -> int:
    """A frame part's length, refused past `limit` (a worker gone wrong must not make the server allocate GBs)."""
    (length,) = struct.unpack(">I", prefix)
    if length > limit:
        raise ValueError(f"a frame part of {length} bytes, over {limit}")
    return int(length)


def main() -> int:
    """Serve requests until stdin closes."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames on the pipe, whatever a library prints
    _tie_to_parent(int(os.environ.get("DEEPSEEK_MCP_RENDER_PARENT", "0") or 0))
    _widen_pipe(stdout.fileno())
    _cap_memory(int(os.environ.get("DEEPSEEK_MCP_RENDER_MEMORY", "0") or 0))
    cpu_seconds = int(os.environ.get("DEEPSEEK_MCP_RENDER_CPU_SECONDS", "0") or 0)
    _pdfium()
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None  # pdfium's bitmap is capped by the job; Pillow only wraps it
    write_frame(stdout, {"ready": True})  # the server times pages from here, not from a cold start
    while True:
        try:
            request = _read(stdin)
        except (ValueError, struct.error):  # not a frame: the server is gone or broken; end quietly
            return 1
        if request is None:
            return 0
        _cap_cpu(cpu_seconds)
        header, payload = _answer(request)
        write_frame(stdout, header, payload)
        _close_deleted()


def _read(stdin: IO[bytes]) -> dict[str, Any] | None:
    prefix = stdin.read(4)
    if len(prefix) < 4:
        return None
    header = json.loads(stdin.read(parse_lengths(prefix, MAX_HEADER)))
    stdin.read(parse_lengths(stdin.read(4), MAX_HEADER))  # requests carry no payload
    return header if isinstance(header, dict) else None


def _answer(request: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    try:
        if request.get("op") == "count":
            return _count(str(request["path"])), b""
        if request.get("op") == "render":
            return _render(request)
        if request.get("op") == "extract":
            return _extract(request), b""
        if request.get("op") == "forget":
            document = _documents.pop(str(request.get("path")), None)
            if document is not None:
                document.close()
            return {"forgotten": document is not None}, b""
        return {"failed": f"unknown request {str(request.get('op'))[:40]!r}"}, b""
    except MemoryError:
        return {"failed": "could not be rendered: it needs more memory than a renderer may use"}, b""


def _count(path: str) -> dict[str, Any]:
    document = _open(path)
    return document if isinstance(document, dict) else {"pages": len(document)}


def _extract(job: dict[str, Any]) -> dict[str, Any]:
    """Pages' sizes in pixels at `dpi`, and, with `out`, a PDF of just those pages written there (for DeepSeek's
    OCR API, which bills every page it is sent)."""
    pdfium = _pdfium()
    document = _open(str(job["path"]))
    if isinstance(document, dict):
        return document
    numbers = [int(n) for n in job["pages"]]
    scale = int(job["dpi"]) / 72
    try:
        sizes = {}
        for number in numbers:
            width, height = document.get_page_size(number - 1)
            sizes[str(number)] = [math.ceil(width * scale), math.ceil(height * scale)]
        if job.get("out"):
            copy = pdfium.PdfDocument.new()
            try:
                copy.import_pages(document, [n - 1 for n in numbers])
                copy.save(str(job["out"]))
            finally:
                copy.close()
    except (pdfium.PdfiumError, ValueError, OSError):
        return {"failed": "could not have its pages read; the PDF may be damaged"}
    return {"sizes": sizes}


def _render(job: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    pdfium = _pdfium()
    document = _open(str(job["path"]))
    if isinstance(document, dict):
        return document, b""
    started = time.perf_counter()
    try:
        page = document[int(job["page"]) - 1]
    except (pdfium.PdfiumError, IndexError, ValueError):
        return {"failed": "could not be read; the PDF may be damaged"}, b""
    try:
        # No check of embedded images' sizes: pdfium decodes them downsampled to the bitmap rendered (a 144 Mpx scan
        # on a page renders in 30 MB), and the address-space cap stops anything that would not.
        img, full = _rasterise(page, int(job["dpi"]), int(job["max_pixels"]))
    except (pdfium.PdfiumError, ValueError):
        return {"failed": "could not be rendered; the PDF may be damaged"}, b""
    finally:
        page.close()
    rendered = time.perf_counter()
    with img:
        data, size = _encode(img, int(job["max_bytes"]), int(job["jpeg_quality"]))
    header = {
        "mime": "image/jpeg",
        "width": size[0],
        "height": size[1],
        "full_width": full[0],
        "full_height": full[1],
        "render_ms": round((rendered - started) * 1e3, 2),
        "encode_ms": round((time.perf_counter() - rendered) * 1e3, 2),
    }
    return header, data


def _tie_to_parent(parent: int) -> None:
    """End this worker when the server ends, however it ends (kill -9 included): a page can take a minute of CPU, and
    only the server enforces the page's time. On Linux the kernel sends SIGKILL when the parent dies; everywhere, a
    thread checks once a second whether the parent is still the one that started the worker."""
    if parent <= 0:
        return
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the server died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="parent-watch", daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_WATCH_SECONDS)
    os._exit(1)  # reparented: the server is gone, and nobody will read this worker's answer


def _cap_cpu(seconds: int) -> None:
    """The next request may use `seconds` of CPU on top of what this worker has used so far; past that the kernel
    ends the worker (SIGXCPU), whether or not a server is left to enforce the page's time limit."""
    if seconds <= 0:
        return
    with contextlib.suppress(OSError, ValueError, AttributeError):  # no RLIMIT_CPU on this system: the server's cap
        usage = resource.getrusage(resource.RUSAGE_SELF)
        soft = math.ceil(usage.ru_utime + usage.ru_stime) + seconds
        hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
        resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))


def _widen_pipe(fd: int) -> None:
    """A page's JPEG (~300 KB) fits the pipe whole: with the default 64 KB the worker waits for the server's event
    loop to drain each 64 KB before it can start the next page, which kept the workers half idle under load."""
    with contextlib.suppress(AttributeError, OSError):  # Linux only; elsewhere the default stays
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1024 * 1024)


def _cap_memory(limit: int) -> None:
    # Address space, not resident memory: pdfium's allocations fail (and the page with them) before the machine's.
    if limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _pdfium() -> Any:
    import pypdfium2  # type: ignore[import-untyped]  # ships no type information

    return pypdfium2


def _close_deleted() -> None:
    """Close the documents whose files their calls have deleted: an open one still holds its disk space."""
    for stale in [path for path in _documents if not os.path.exists(path)]:
        _documents.pop(stale).close()


def _open(path: str) -> Any:
    """The document, from the worker's few open ones or opened now; a {"failed": ...} header if it cannot be."""
    if path in _documents:
        _documents.move_to_end(path)
        return _documents[path]
    pdfium = _pdfium()
    try:
        document = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as e:
        if e.err_code == pdfium.raw.FPDF_ERR_PASSWORD:
            return {"failed": "is an encrypted PDF; remove its password (e.g. qpdf --decrypt) and retry"}
        if e.err_code == pdfium.raw.FPDF_ERR_SUCCESS:  # pdfium's answer for a well-formed PDF with no page
            return {"failed": "is a PDF without pages (or one whose page tree pdfium cannot use)"}
        return {"failed": "is not a readable PDF; it may be damaged or truncated"}
    document.init_forms()  # so filled-in form fields are drawn, not just the empty form
    _documents[path] = document
    while len(_documents) > _OPEN_DOCUMENTS:
        _documents.popitem(last=False)[1].close()
    return document


def _rasterise(page: Any, dpi: int, max_pixels: int) -> tuple[Any, tuple[int, int]]:
    scale = dpi / 72  # PDF user space is 1/72 inch
    width, height = page.get_size()
    full = (max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale)))
    # Render straight at the reduced size instead of building a bitmap that can run to hundreds of MB.
    shrink = min(1.0, math.sqrt(max_pixels / (full[0] * full[1])))
    bitmap = page.render(scale=scale * shrink, rev_byteorder=True)
    try:
        with bitmap.to_pil() as shared:
            img = shared.convert("RGB")  # a copy: the bitmap's buffer is freed below
    finally:
        bitmap.close()
    return img, full


def _encode(img: Any, max_bytes: int, quality: int) -> tuple[bytes, tuple[int, int]]:
    """JPEG at `quality` (bench/README.md: the same OCR text as PNG, in a tenth of the time), stepped down in size
    until it fits `max_bytes`."""
    from PIL import Image

    size = img.size
    for _ in range(8):
        buffer = BytesIO()
        if size == img.size:
            img.save(buffer, "JPEG", quality=quality)
        else:
            with img.resize(size, Image.Resampling.LANCZOS) as scaled:
                scaled.save(buffer, "JPEG", quality=quality)
        if buffer.tell() <= max_bytes:
            break
        factor = 0.9 * math.sqrt(max_bytes / buffer.tell())
        size = max(1, math.floor(size[0] * factor)), max(1, math.floor(size[1] * factor))
    return buffer.getvalue(), size


if __name__ == "__main__":
    sys.exit(main())
