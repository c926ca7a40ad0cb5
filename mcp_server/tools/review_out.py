"""What `review` returns: the structured result (findings, refuted, dropped, ...) and a short report a person reads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcp.types import ContentBlock
from pydantic import BaseModel

from mcp_server.upstream.providers import Route

from .common import CostOut, UsageOut, block, finish_notice, notice_blocks
from .files import MAX_LISTED, SkippedOut

if TYPE_CHECKING:
    from mcp_server.agent import Run
    from mcp_server.review import Change
    from mcp_server.review.check import Checked
    from mcp_server.review.reviewer import Reviewer

TEXT_FINDINGS = 20  # findings spelled out in the text report; all are in the structured content


class _Reported(BaseModel):
    """What the reviewer said of a finding, as report_finding gave it (anchored to real lines)."""

    path: str
    line: int
    end_line: int
    severity: str
    title: str
    detail: str


class FindingOut(_Reported):
    suggestion: str
    quote: str  # the lines as they are after the change
    in_change: bool  # the lines are among those the change adds or replaces
    check: str  # the independent check's reason


class RefutedOut(_Reported):
    reason: str  # why the check refuted it


class DroppedOut(BaseModel):
    path: str
    line: int
    end_line: int
    title: str
    reason: str


class StepOut(BaseModel):
    name: str
    arguments: dict[str, Any]
    outcome: str
    bytes: int


class ReviewOutput(BaseModel):
    base: str  # what was compared
    findings: list[FindingOut]
    refuted: list[RefutedOut]
    dropped: list[DroppedOut]
    summary: str
    files: list[str]  # the changed files reviewed
    skipped: list[SkippedOut]
    steps: list[StepOut]
    usage: UsageOut
    cost: CostOut
    notices: list[str]


def output_of(change: Change, run: Run, reviewer: Reviewer, checks: list[Checked], route: Route) -> ReviewOutput:
    from mcp_server.review.findings import order

    usage = sum((c.usage for c in checks), run.usage)
    held = order([c.finding for c in checks if c.verdict is not None and c.verdict.holds])
    reasons = {id(c.finding): c.verdict.reason for c in checks if c.verdict is not None}
    refuted = [c for c in checks if c.verdict is not None and not c.verdict.holds]
    dropped = [DroppedOut(**_fields(d.__dict__, DroppedOut)) for d in reviewer.dropped]
    dropped += [DroppedOut(**_fields(c.finding.__dict__, DroppedOut), reason=c.error) for c in checks if c.error]
    notices = [*change.notices, *run.notices, *_check_notices(checks)]
    notices += [n for n in (finish_notice(run.finish_reason, run.answer),) if n]
    return ReviewOutput(
        base=change.sides.shown,
        findings=[FindingOut(**_fields(f.__dict__, FindingOut), check=reasons[id(f)]) for f in held],
        refuted=[RefutedOut(**_fields(c.finding.__dict__, RefutedOut), reason=reasons[id(c.finding)]) for c in refuted],
        dropped=dropped,
        summary=run.answer.strip(),
        files=[f.path for f in change.files],
        skipped=_skipped(change),
        steps=[StepOut(name=s.name, arguments=s.arguments, outcome=s.outcome, bytes=s.bytes) for s in run.steps],
        usage=UsageOut.of(usage),
        cost=CostOut.of(route.provider.name, route.model, usage),
        notices=notices,
    )


def _fields(values: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    return {name: values[name] for name in model.model_fields if name in values}


def _skipped(change: Change) -> list[SkippedOut]:
    listed = [SkippedOut(path=s.path, reason=s.reason) for s in change.skipped[:MAX_LISTED]]
    if len(change.skipped) > MAX_LISTED:
        listed.append(SkippedOut(path="…", reason=f"{len(change.skipped) - MAX_LISTED:,} more, not listed"))
    return listed


def _check_notices(checks: list[Checked]) -> list[str]:
    failed = [c for c in checks if c.error]
    if not failed:
        return []
    return [f"{len(failed)} of {len(checks)} findings could not be checked and are in dropped, not reported."]


def content_of(out: ReviewOutput) -> list[ContentBlock]:
    """A short report: the counts, each confirmed finding in a few lines, the model's summary."""
    counts = ", ".join(f"{sum(f.severity == s for f in out.findings)} {s}" for s in ("high", "medium", "low"))
    found = f"{len(out.findings)} finding{'' if len(out.findings) == 1 else 's'}"
    lines = [
        f"Review of {out.base}: {found} ({counts}); {len(out.refuted)} refuted by the check, "
        f"{len(out.dropped)} dropped (lines that do not exist, or unchecked)."
    ]
    for finding in out.findings[:TEXT_FINDINGS]:
        span = f"{finding.line}" if finding.line == finding.end_line else f"{finding.line}-{finding.end_line}"
        where = "" if finding.in_change else " (outside the changed lines)"
        lines.append(f"\n[{finding.severity}] {finding.path}:{span}{where} — {finding.title}\n{finding.detail}")
        if finding.suggestion:
            lines.append(f"Suggestion: {finding.suggestion}")
        lines.append(f"Check: {finding.check}")
    if len(out.findings) > TEXT_FINDINGS:
        lines.append(f"\n… and {len(out.findings) - TEXT_FINDINGS} more in the structured result.")
    if out.summary:
        lines.append(f"\nSummary: {out.summary}")
    return [block("\n".join(lines), "answer"), *notice_blocks(out.notices)]
