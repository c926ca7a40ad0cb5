"""The PDF rendering workers, seen from the server: processes running `python -m mcp_server.media.pdf_worker`.

Started on the first PDF, not at start-up (a worker costs about 40 MB and 0.1 s to start), one per core by default
(`DEEPSEEK_MCP_RENDER_WORKERS`), each rendering one page at a time. A call takes a worker per page and gives it back;
waiting calls are served in turn. A page is stopped by ending its worker: a cancelled call's pages stop at once,
and a page that takes longer than `page_timeout` (a hostile PDF) is ended the same way, its worker replaced. A
worker that dies (pdfium crashed, or the page needed more than the memory cap) costs that page only.

Workers get only the environment Python needs to start (no key, token or URL), so nothing a PDF could make pdfium
do reaches a secret.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from mcp_server.core.errors import InputError
from mcp_server.media.pdf_worker import MAX_HEADER, MAX_PAYLOAD, parse_lengths

log = logging.getLogger(__name__)

PAGE_TIMEOUT = 60.0  # seconds one page may take to render and encode
START_TIMEOUT = 30.0  # seconds a worker may take to start and load pdfium
CPU_MARGIN = 5  # seconds of CPU a page may use past PAGE_TIMEOUT before its worker ends itself (the server stops it
# at PAGE_TIMEOUT; the worker's own limit matters when no server is left to do so)
MEMORY_LIMIT = 1024**3  # address space of one worker (idle: 40 MB); a page that needs more fails alone
# How a worker that has gone shows on its pipes: closed before or in the middle of an answer (IncompleteRead: a page
# that needed more than MEMORY_LIMIT, a kill), broken for a request, or an answer that does not parse.
_GONE = (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError, OSError, ValueError)
# An allowlist: a denylist of names like *KEY* let DATABASE_URL or GITHUB_PAT through.
_PASSED = frozenset({"PATH", "HOME", "LANG", "TMPDIR", "TEMP", "TMP", "SYSTEMROOT", "PYTHONPATH", "VIRTUAL_ENV"})


@dataclass(frozen=True)
class PageJob:
    """One page to render, with every limit it must respect."""

    path: str
    page: int  # 1-based
    dpi: int
    max_pixels: int  # of the image sent
    max_bytes: int
    jpeg_quality: int


@dataclass(frozen=True)
class Rendered:
    data: bytes
    mime: str
    width: int
    height: int
    full_width: int  # the page at the job's dpi, before it was fitted to max_pixels
    full_height: int
    render_ms: float
    encode_ms: float


@dataclass(frozen=True)
class Failed:
    message: str  # to follow "page N of <document>" (or the document's name alone)


class _Worker:
    def __init__(self, process: Process) -> None:
        self.process = process
        assert process.stdout is not None and process.stdin is not None
        self._out = BufferedByteReceiveStream(process.stdout)

    async def ask(self, request: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        encoded = json.dumps(request).encode()
        assert self.process.stdin is not None
        await self.process.stdin.send(len(encoded).to_bytes(4, "big") + encoded + bytes(4))
        return await self.answer()

    async def answer(self) -> tuple[dict[str, Any], bytes]:
        header = json.loads(
            await self._out.receive_exactly(parse_lengths(await self._out.receive_exactly(4), MAX_HEADER))
        )
        payload = await self._out.receive_exactly(parse_lengths(await self._out.receive_exactly(4), MAX_PAYLOAD))
        if not isinstance(header, dict):
            raise ValueError("a header that is not an object")
        return header, payload

    async def _part(self, limit: int) -> bytes:
        return await self._out.receive_exactly(parse_lengths(await self._out.receive_exactly(4), limit))

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


class Renderer:
    """Asks the workers; every answer is a value or a `Failed`, never an exception about the workers."""

    def __init__(self, workers: int, *, page_timeout: float = PAGE_TIMEOUT, memory_limit: int = MEMORY_LIMIT) -> None:
        self.workers = workers
        self._page_timeout = page_timeout
        self._memory_limit = memory_limit
        self._slots = anyio.Semaphore(workers)
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()

    async def pages_of(self, path: str, label: str) -> int:
        """The PDF's page count, or the InputError that says why it has none a caller can use."""
        counted = await self.count_pages(path)
        if isinstance(counted, Failed):
            raise InputError(f"{label} {counted.message}")
        if counted == 0:
            raise InputError(f"{label} is a PDF without pages")
        return counted

    async def count_pages(self, path: str) -> int | Failed:
        answer = await self._ask({"op": "count", "path": path})
        if isinstance(answer, Failed):
            return answer
        pages = answer[0].get("pages")
        return pages if isinstance(pages, int) else Failed("could not be read; the PDF may be damaged")

    async def extract(
        self, path: str, pages: list[int], dpi: int, out: str | None
    ) -> dict[int, tuple[int, int]] | Failed:
        """The pages' sizes in pixels at `dpi`; with `out`, a PDF of just those pages is written there."""
        answer = await self._ask({"op": "extract", "path": path, "pages": pages, "dpi": dpi, "out": out})
        if isinstance(answer, Failed):
            return answer
        try:
            return {int(n): (int(size[0]), int(size[1])) for n, size in answer[0]["sizes"].items()}
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            return Failed("could not have its pages read: the renderer's answer was malformed")

    async def render(self, job: PageJob) -> Rendered | Failed:
        answer = await self._ask({"op": "render", **job.__dict__})
        if isinstance(answer, Failed):
            return answer
        header, data = answer
        try:
            return Rendered(
                data,
                str(header["mime"]),
                int(header["width"]),
                int(header["height"]),
                int(header["full_width"]),
                int(header["full_height"]),
                float(header["render_ms"]),
                float(header["encode_ms"]),
            )
        except (KeyError, TypeError, ValueError):
            return Failed("could not be rendered: the renderer's answer was malformed")

    async def forget(self, path: str) -> None:
        """Tell the idle workers to close `path` (its call has ended and deleted it; an open file still holds its
        disk, or its RAM on a tmpfs). A busy worker closes it after its page: it drops deleted files itself."""
        for worker in list(self._idle):
            if worker in self._idle and self._slots.value > 0:
                self._idle.remove(worker)
                async with self._slots:
                    try:
                        with anyio.fail_after(2):
                            await worker.ask({"op": "forget", "path": path})
                    except (TimeoutError, *_GONE):
                        await self._end(worker, "it did not answer a forget")
                        continue
                    self._idle.append(worker)

    async def aclose(self) -> None:
        """End every worker (the lifespan's end); a later call starts new ones."""
        for worker in list(self._all):
            await self._end(worker, "the server is stopping")
        self._idle.clear()

    async def _ask(self, request: dict[str, Any]) -> tuple[dict[str, Any], bytes] | Failed:
        async with self._slots:
            answer: tuple[dict[str, Any], bytes] | Failed | None = None
            if self._idle:
                # An idle worker may have died since its last page (killed, out of memory): its pipe breaks on this
                # request, and the page goes to a fresh worker instead of failing as if the PDF were damaged.
                answer = await self._exchange(self._idle.pop(), request, reused=True)
            if answer is None:
                worker = await self._start()
                answer = worker if isinstance(worker, Failed) else await self._exchange(worker, request, reused=False)
        assert answer is not None  # a fresh worker's failure is a Failed
        if isinstance(answer, Failed):
            return answer
        failed = answer[0].get("failed")
        return Failed(str(failed)[:500]) if failed is not None else answer

    async def _exchange(
        self, worker: _Worker, request: dict[str, Any], *, reused: bool
    ) -> tuple[dict[str, Any], bytes] | Failed | None:
        """One request to `worker` (a slot held); None when a reused worker turned out to be gone."""
        try:
            with anyio.fail_after(self._page_timeout):
                header, payload = await worker.ask(request)
        except TimeoutError:
            await self._end(worker, "a page took longer than %.0f s", self._page_timeout)
            return Failed(f"took longer than {self._page_timeout:.0f} s to render; the page is too complex")
        except _GONE:
            await self._end(worker, "a rendering worker stopped (exit code %s)", worker.process.returncode)
            if reused:
                return None
            return Failed(
                "could not be rendered: the renderer stopped on it (the PDF may be damaged, or the page needs "
                f"more than {self._memory_limit // 2**20} MiB)"
            )
        except BaseException:
            await self._end(worker, "a page's call was cancelled")  # the page stops now, not when it is done
            raise
        self._idle.append(worker)
        return header, payload

    async def _start(self) -> _Worker | Failed:
        # -P: nothing from the working directory (the user's project) is importable in the worker, so a json.py
        # or an mcp_server/ there cannot run in it; the worker works in the temporary folder, not the project.
        command = [sys.executable, "-P", "-m", "mcp_server.media.pdf_worker"]
        try:
            with anyio.CancelScope(shield=True):  # a cancel mid-spawn would lose the worker unreaped (review/git.py)
                process = await anyio.open_process(
                    command, env=self._environment(), cwd=tempfile.gettempdir(), stderr=None
                )
        except OSError as exc:  # out of processes or file descriptors: this page fails, the server goes on
            log.warning("could not start a PDF rendering worker: %s", exc)
            return Failed(f"could not be rendered: no rendering worker could be started ({exc.strerror or exc})")
        worker = _Worker(process)
        self._all.add(worker)
        # The worker says when pdfium and Pillow are loaded: a page's time starts then, not at a cold start on a
        # busy machine.
        try:
            with anyio.fail_after(START_TIMEOUT):
                ready, _ = await worker.answer()
        except BaseException as exc:
            await self._end(worker, "it did not start")
            if not isinstance(exc, (TimeoutError, *_GONE)):
                raise
            return Failed("could not be rendered: a rendering worker did not start")
        if ready.get("ready") is not True:
            await self._end(worker, "its first frame was not `ready`")
            return Failed("could not be rendered: a rendering worker did not start")
        return worker

    async def _end(self, worker: _Worker, why: str, *args: Any) -> None:
        log.info(f"ending a PDF rendering worker: {why}", *args)
        self._all.discard(worker)
        worker.kill()
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):  # reaped, even by a cancelled call
            await worker.process.aclose()

    def _environment(self) -> dict[str, str]:
        """What a worker needs to start Python and find its libraries, nothing more: no key, token or URL."""
        env = {k: v for k, v in os.environ.items() if k in _PASSED or k.startswith("LC_")}
        env["DEEPSEEK_MCP_RENDER_MEMORY"] = str(self._memory_limit)
        env["DEEPSEEK_MCP_RENDER_PARENT"] = str(os.getpid())  # the worker ends when this process does
        env["DEEPSEEK_MCP_RENDER_CPU_SECONDS"] = str(math.ceil(self._page_timeout) + CPU_MARGIN)
        return env
