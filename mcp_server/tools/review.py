"""`review`: a git change reviewed by DeepSeek through the `investigate` loop, and every finding checked by a second,
independent call before it is reported (mcp_server/review/)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from mcp.types import CallToolResult
from pydantic import Field

from mcp_server.core.config import FILE_ROOTS_ENV, MAX_PROMPT_CHARS
from mcp_server.core.errors import InputError
from mcp_server.serving.app import AppContext, ToolContext, app_of, owner_of, reporter_for
from mcp_server.serving.progress import ProgressReporter
from mcp_server.spending.budgets import Spend
from mcp_server.upstream.providers import Effort, Route

from .files import job_for
from .review_out import ReviewOutput, content_of, output_of

if TYPE_CHECKING:
    from mcp_server.agent import Run, Workspace
    from mcp_server.review import Change
    from mcp_server.review.check import Checked, Checker
    from mcp_server.review.reviewer import Reviewer


async def review(
    # Terse on purpose: every byte of the schema is in the assistant's context on every turn (docs/benchmarks.md).
    ctx: ToolContext,
    path: Annotated[str | None, Field(description="Git work tree. Default: cwd.")] = None,
    base: Annotated[str | None, Field(description="Ref or range. Default: uncommitted, else last commit.")] = None,
    focus: Annotated[str | None, Field(description="What to look at most.", max_length=MAX_PROMPT_CHARS)] = None,
    effort: Annotated[Literal["low", "high", "max"] | None, Field(description="Thinking effort. Default high.")] = None,
    model: Annotated[str | None, Field(description="See list_models.")] = None,
    # At least 1: checked below (a `minimum` costs 14 bytes).
    max_steps: Annotated[int, Field(description="Function calls allowed.", le=50)] = 24,
) -> Annotated[CallToolResult, ReviewOutput]:
    """DeepSeek reviews a git change; each finding is checked twice."""
    # git, the loop and the checks load with the first review, not when the server starts.
    from mcp_server.agent import read_only, thinking_for
    from mcp_server.agent.verdicts import Judge
    from mcp_server.review import gather_change
    from mcp_server.review.check import Checker
    from mcp_server.review.reviewer import Reviewer

    app = app_of(ctx)
    if max_steps < 1:
        raise InputError(f"max_steps is {max_steps}; pass 1 to 50 (function calls the reviewer may make)")
    if path is None and app.settings.serves_http:
        raise InputError(f"over HTTP, pass `path`: a git work tree inside {FILE_ROOTS_ENV}")
    route = await app.router.resolve("reason", model)
    thinking_for(route)  # a model that cannot call functions is refused before git runs
    effort = effort or "high"
    reporter = reporter_for(ctx, "review", total=max_steps + 1)
    async with reporter.running():
        await reporter.step(0, "gathering the change from git")
        change = await gather_change(path, base, job_for(app))
        workspace = _workspace(app, change)
        handler = read_only(workspace)
        reviewer = Reviewer(change, workspace, handler)
        spend = Spend(app.spending, owner_of(ctx), "review")
        run = await _review_pass(app, route, reporter, change, reviewer, focus, effort, max_steps, spend)
        budget = app.settings.limits.max_context_tokens
        judge = Judge(app.upstream, route, effort=effort, budget=budget, spend=spend, spent=run.spent)
        checks = await _check_pass(Checker(judge, handler), reporter, change, reviewer, len(run.turns))
        ran = len(run.turns) + len(checks)
        await reporter.finish(ran, f"done: {len(run.turns)} review turns, {len(checks)} findings checked")
    out = output_of(change, run, reviewer, checks, route)
    return CallToolResult(content=content_of(out), structured_content=out.model_dump())


async def _review_pass(
    app: AppContext,
    route: Route,
    reporter: ProgressReporter,
    change: Change,
    reviewer: Reviewer,
    focus: str | None,
    effort: Effort,
    max_steps: int,
    spend: Spend,
) -> Run:
    from mcp_server.agent import READ_ONLY, Loop, Task
    from mcp_server.review.reviewer import REPORT_FINDING, SYSTEM, prompt

    budget = app.settings.limits.max_context_tokens
    loop = Loop(app.upstream, route, reporter, effort=effort, budget=budget, spend=spend)
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt(change, focus)}]
    return await loop.run(messages, Task((*READ_ONLY, REPORT_FINDING), reviewer.handle, max_steps, name="review"))


async def _check_pass(
    checker: Checker, reporter: ProgressReporter, change: Change, reviewer: Reviewer, turns: int
) -> list[Checked]:
    """Every finding checked; progress counts on from the review's turns, one step per check answered."""
    if not reviewer.findings:
        return []
    total = turns + len(reviewer.findings)

    async def progress(done: int, count: int, checked: Checked) -> None:
        said = "holds" if checked.verdict and checked.verdict.holds else "refuted" if checked.verdict else "no verdict"
        text = f"checked {done} of {count}: {checked.finding.title[:60]} — {said}"
        await reporter.step(turns + done, text, total=total)

    return await checker.all(change, reviewer.findings, progress)


def _workspace(app: AppContext, change: Change) -> Workspace:
    from mcp_server.agent import Workspace

    job = job_for(app)
    return Workspace(Path(change.top), app.files, app.settings.limits, job.scanner, job.places, ("",))
