"""`ocr`: which route reads the document, and the chat route itself.

Routing: a provider whose OCR API serves the mode (DeepSeek's, ocr_api.py) reads local files and inline data
itself; otherwise, and for an explicit `model` or a URL, the chat route: DeepSeek-OCR (on Atlas Cloud or a
self-hosted server) or a vision model, on page images. One upstream request per page there, a few pages in flight,
results joined in page order. DeepSeek-OCR gets its own prompts (WIRE.md §11); a general vision model gets
instructions that ask for the same output, grounding tags included, so one parser serves both.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio
from mcp.types import CallToolResult
from pydantic import Field

from mcp_server.core.errors import ConfigError, InputError
from mcp_server.serving.app import AppContext, ToolContext, app_of, reporter_for
from mcp_server.serving.progress import ProgressReporter
from mcp_server.spending.budgets import OUTPUT_ESTIMATE, Hold, most_output
from mcp_server.spending.tokens import PER_MESSAGE
from mcp_server.spending.tokens import estimate as estimate_tokens
from mcp_server.tools.common import CostOut, UsageOut, charged
from mcp_server.tools.ocr.model import OcrOutput, OcrRoute, PageOut
from mcp_server.tools.ocr.parts import answers_limiter, keep
from mcp_server.tools.ocr.results import finish, ocr_result, page_out
from mcp_server.upstream.completion import Completion, Usage
from mcp_server.upstream.errors import UpstreamError
from mcp_server.upstream.providers import Route

if TYPE_CHECKING:
    from mcp_server import media

log = logging.getLogger(__name__)
Mode = Literal["markdown", "text", "figure", "describe", "locate"]
OCR_MAX_TOKENS = 8192  # hosts of DeepSeek-OCR cap output here (WIRE.md §11)
# Prompt tokens of one page image, at most: DeepSeek's vision takes up to 1,024 (WIRE.md §2), DeepSeek-OCR's largest
# mode about 1,156 (9 crops of 100 and a 256 overview, §11).
IMAGE_TOKENS = 1600
MAX_LOST_NOTICES = 10  # pages that could not be rendered, named one by one
MAX_SOURCE_CHARS = 48 * 1024 * 1024  # a 32 MiB file as base64, with room for a data: URL's header

_OCR_PROMPTS: dict[Mode, str] = {
    "markdown": "<|grounding|>Convert the document to markdown.",
    "text": "Free OCR.",
    "figure": "Parse the figure.",
    "describe": "Describe this image in detail.",
    "locate": "Locate <|ref|>{target}<|/ref|> in the image.",
}
_BOX_FORMAT = (
    "<|ref|>LABEL<|/ref|><|det|>[[x1, y1, x2, y2]]<|/det|>, coordinates as integers 0-999 relative to the image "
    "width and height"
)
_VISION_PROMPTS: dict[Mode, str] = {
    "markdown": "Convert this document image to markdown: keep headings, lists and emphasis; write tables as HTML "
    "<table>. Output only the document.",
    "text": "Transcribe all text in this image as plain text in reading order. Output only the text.",
    "figure": "Parse this chart or figure: its type, axes, series and values; give the data as a markdown table.",
    "describe": "Describe this image in detail.",
    "locate": "Find every occurrence of {target!r} in this image. Answer only with one line per occurrence: "
    + _BOX_FORMAT.replace("LABEL", "{target}")
    + ".",
}
_VISION_BOXES = (
    " Put each block on its own line preceded by its type and box as " + _BOX_FORMAT + "; types: title, sub_title, "
    "text, table, image, image_caption, equation."
)


@dataclass(frozen=True)
class Job:
    route: Route
    prompt: str
    boxes: bool
    mode: Mode


async def ocr(
    source: Annotated[
        str,
        Field(description="Local path, http(s) URL, data: URL or base64.", max_length=MAX_SOURCE_CHARS),
    ],
    ctx: ToolContext,
    mode: Annotated[Mode, Field(description="markdown (layout), text (plain), figure, describe, locate.")] = "markdown",
    target: Annotated[str | None, Field(description="Text to find (mode locate).", max_length=200)] = None,
    pages: Annotated[str | None, Field(description="PDF pages, e.g. 1-3,7. Default all.")] = None,
    model: Annotated[str | None, Field(description="Model id override.")] = None,
    include_boxes: Annotated[bool | None, Field(description="Layout boxes (default: markdown, locate).")] = None,
) -> Annotated[CallToolResult, OcrOutput]:
    """Read an image, PDF, Word or PowerPoint file with DeepSeek-OCR: markdown with layout boxes by default."""
    if mode == "locate" and not (target or "").strip():
        raise InputError("mode 'locate' needs `target`: the text to find in the image.")
    app = app_of(ctx)
    from mcp_server import media  # image/PDF helpers load with the first ocr call, not at start-up

    native = app.router.ocr_api(mode) if not (model or "").strip() else None  # an explicit model wins
    if native is not None and not media.is_url(source):
        from mcp_server.tools.ocr.api import read_with_ocr_api

        return await read_with_ocr_api(ctx, native, mode, source, pages, include_boxes)
    job = await _job(app, mode, (target or "").strip(), model, include_boxes)
    if job.route.provider.fetches_locally and media.is_url(source):
        from mcp_server.policy.urls import check_fetchable

        await check_fetchable(source.strip(), allow_private=app.settings.allow_private_urls)
    opening = media.open_source(
        source,
        pages=pages,
        limits=media.Limits(),
        base_dir=Path.cwd(),
        files=app.files,
        renderer=app.renderer(),
        budget=app.decodes(),
    )
    opened = await opening  # its reading and sniffing hold threads of the caller's share (core/threads.py)
    reporter = reporter_for(ctx, "ocr", total=len(opened.page_numbers))
    estimate = _estimate(app, job, len(opened.page_numbers))
    async with opened, charged(ctx, "ocr", estimate) as hold, reporter.running():
        results, lost = await _run_pages(app, job, opened, reporter, hold)
    notices = [_URL_NOTICE.format(model=job.route.model)] if native is not None else []
    return await _result(ctx, job, opened, results, _lost_notices(lost) + notices)


_URL_NOTICE = (
    "the URL went to {model}: DeepSeek's OCR API reads only files this server uploads, and the server never fetches "
    "a URL itself; pass a local path to have the OCR API read it"
)


async def _job(app: AppContext, mode: Mode, target: str, model: str | None, include_boxes: bool | None) -> Job:
    route = await app.router.resolve("ocr", model)
    if route.traits.vision is False:
        raise ConfigError(
            f"{route.model} reads text only, so it cannot read images; omit `model` for the default OCR model, "
            "or call list_models for the ids that read images."
        )
    boxes = include_boxes if include_boxes is not None else mode in ("markdown", "locate")
    if route.traits.deepseek_ocr:
        prompt = _OCR_PROMPTS[mode].format(target=target)
        if mode == "markdown" and not boxes:
            prompt = prompt.removeprefix("<|grounding|>")
    else:
        prompt = _VISION_PROMPTS[mode].format(target=target)
        if mode == "markdown" and boxes:
            prompt += _VISION_BOXES
    return Job(route, prompt, boxes, mode)


def _estimate(app: AppContext, job: Job, pages: int) -> float | None:
    """USD for reading `pages` page images on the chat route, as every tool estimates before sending: each page an
    image of at most IMAGE_TOKENS with the prompt, and DeepSeek-OCR's whole output cap (a vision model's usual)."""
    prompt = IMAGE_TOKENS + estimate_tokens(job.prompt) + PER_MESSAGE
    # DeepSeek-OCR's requests carry their cap; a vision model's answer may run to the provider's default, which a
    # limit must hold whole (budgets.Spending.bound).
    limited = app.spending.per_call is not None or app.spending.daily is not None
    output = OCR_MAX_TOKENS if job.route.traits.deepseek_ocr else most_output(False) if limited else OUTPUT_ESTIMATE
    usage = Usage(prompt_tokens=prompt, cache_miss_tokens=prompt, completion_tokens=output)
    one = app.spending.held(job.route.provider.name, job.route.model, usage)
    return None if one is None else round(one * pages, 8)


async def _run_pages(
    app: AppContext, job: Job, opened: media.Source, reporter: ProgressReporter, hold: Hold
) -> tuple[list[tuple[media.ImagePart, Completion]], list[str]]:
    """Every selected page through render -> upload -> read, as a pipeline: `ocr_concurrency` pages with the
    model at once, and the next few rendered meanwhile (one per rendering worker), so neither the workers nor the
    provider wait on the other. Memory holds at most those pages' images, whatever the document's length.

    A page that cannot be rendered (its worker died on it) is lost alone and said in the second list; any other
    failure stops the call, as does every page lost."""
    from mcp_server.media import PageFailed

    numbers = opened.page_numbers
    results: dict[int, tuple[media.ImagePart, Completion]] = {}
    lost: dict[int, str] = {}
    failure: list[Exception] = []
    sent = [0]  # pages whose request went out
    asking = app.settings.limits.ocr_concurrency
    in_flight = anyio.CapacityLimiter(asking)  # pages being read by the model
    held = anyio.CapacityLimiter(asking + app.settings.limits.render_workers)  # ... or rendered, waiting for it

    async def one(number: int, scope: anyio.CancelScope) -> None:
        try:
            async with held:  # FIFO: pages enter in page order
                entered = time.monotonic()
                try:
                    part = await opened.render(number)
                except PageFailed as exc:
                    lost[number] = str(exc)
                    await reporter.advance(len(results) + len(lost), f"page {number} could not be rendered")
                    return
                rendered = time.monotonic()
                async with in_flight:
                    sent[0] += 1
                    completion = await _ask(app, job, part, reporter)
                # The page's image (up to ~11 MiB as a data URL) is not kept past its request: the result needs its
                # size only, and memory must not grow with the document.
                results[number] = (dataclasses.replace(part, url=""), completion)
                log.debug(
                    "page %d: rendered in %.0f ms, read in %.0f ms (at %.3f)",
                    number,
                    (rendered - entered) * 1e3,
                    (time.monotonic() - rendered) * 1e3,
                    entered,
                )
        except (InputError, UpstreamError) as exc:
            failure.append(_on_page(exc, number, opened.kind))
            scope.cancel()  # the remaining pages are pointless once one has failed
            return
        await reporter.advance(len(results) + len(lost), f"page {number}" if opened.kind == "pdf" else "image")

    async with anyio.create_task_group() as tg:
        for number in numbers:
            tg.start_soon(one, number, tg.cancel_scope)
    # What the pages read cost, also when one failed and the rest were stopped (they were billed); a page stopped
    # after its request went out, or failed, may have been billed too: at its estimate (without, a failing page
    # let the pages in flight beside it pass the budget unrecorded).
    usage = sum((completion.usage for _, completion in results.values()), Usage())
    cost = app.spending.charge(job.route.provider.name, job.route.model, usage)
    unsettled = sent[0] - len(results)
    if unsettled and (each := _estimate(app, job, 1)) is not None:
        cost = (cost or 0.0) + unsettled * each
    await hold.settle(cost)
    if failure:
        raise failure[0]
    if len(lost) == len(numbers):
        raise InputError(lost[numbers[0]] + (f"; and the other {len(lost) - 1} pages too" if len(lost) > 1 else ""))
    return [results[n] for n in numbers if n in results], [lost[n] for n in numbers if n in lost]


def _lost_notices(lost: list[str]) -> list[str]:
    """One notice per page lost (the first few), saying the others were read."""
    if not lost:
        return []
    shown = [f"{message}; the other pages were read" for message in lost[:MAX_LOST_NOTICES]]
    if len(lost) > MAX_LOST_NOTICES:
        shown.append(f"and {len(lost) - MAX_LOST_NOTICES} more pages could not be rendered")
    return shown


def _on_page(exc: InputError | UpstreamError, number: int, kind: str) -> Exception:
    if kind != "pdf":
        return exc
    exc.args = (f"page {number}: {exc.args[0]}",)
    return exc


async def _ask(app: AppContext, job: Job, part: media.ImagePart, reporter: ProgressReporter) -> Completion:
    content = [{"type": "image_url", "image_url": {"url": part.url}}, {"type": "text", "text": job.prompt}]
    payload: dict[str, Any] = {
        "model": job.route.model,
        "messages": [{"role": "user", "content": content}],
        "stream": True,
        "stream_options": {"include_usage": True},
        **job.route.provider.thinking_params(False, None),
    }
    if job.route.traits.deepseek_ocr:
        payload |= {"max_tokens": OCR_MAX_TOKENS, "temperature": 0.0}
    provider = job.route.provider
    return await app.upstream.stream(provider, provider.url("chat/completions"), payload, on_retry=reporter.notice)


async def _result(
    ctx: ToolContext,
    job: Job,
    opened: media.Source,
    results: list[tuple[media.ImagePart, Completion]],
    notices: list[str],
) -> CallToolResult:
    pages = (_page(job, part, completion) for part, completion in results)
    usage = sum((c.usage for _, c in results), Usage())
    from mcp_server import media

    route: OcrRoute = "deepseek_ocr" if job.route.traits.deepseek_ocr else "vision"
    out = OcrOutput(
        pages=[],
        route=route,
        model=results[0][1].model or job.route.model if results else job.route.model,
        provider=job.route.provider.name,
        usage=UsageOut.of(usage),
        cost=CostOut.of(job.route.provider.name, job.route.model, usage),
        notices=media.notes_for(opened, [part for part, _ in results]) + notices,
    )
    # Up to 50 pages of 8K tokens: parsed and split off the event loop, one answer at a time, like the OCR API's.
    out, split = await anyio.to_thread.run_sync(finish, out, pages, limiter=answers_limiter(app_of(ctx)))
    result, ranges = keep(ctx, split, out.notices)
    return ocr_result(out, opened.kind == "pdf", result, ranges)


def _page(job: Job, part: media.ImagePart, completion: Completion) -> PageOut:
    frame = (part.width, part.height) if part.width is not None and part.height is not None else None
    original = None
    if part.original_width is not None and part.original_height is not None:
        original = (part.original_width, part.original_height)
    return page_out(part.page, completion.content, frame, original, job.boxes, completion.finish_reason)
