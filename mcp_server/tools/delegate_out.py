"""What `delegate` returns: the structured result and its text, which leads with the verification in one line."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp.types import ContentBlock
from pydantic import BaseModel

from mcp_server.upstream.providers import Route

from .common import CostOut, UsageOut, block, notice_blocks
from .investigate_out import StepOut

if TYPE_CHECKING:
    from mcp_server.agent import Run
    from mcp_server.delegate import Verification


class FileOut(BaseModel):
    path: str
    status: str  # modified, added or deleted
    added: int
    removed: int


class ParsedOut(BaseModel):
    path: str
    language: str | None
    ok: bool | None  # None: not checked
    detail: str


class CheckOut(BaseModel):
    command: str | None
    ran: bool
    passed: bool | None
    exit_code: int | None
    seconds: float | None
    output_tail: str
    sandboxed: bool | None


class VerificationOut(BaseModel):
    applies: bool
    applies_detail: str
    parses: list[ParsedOut]
    check: CheckOut


class DelegateOutput(BaseModel):
    patch: str
    files: list[FileOut]
    verification: VerificationOut
    answer: str
    steps: list[StepOut]
    usage: UsageOut
    cost: CostOut
    conversation_id: str
    notices: list[str]


def output_of(
    run: Run, verified: Verification, route: Route, command: str | None, conversation_id: str, notices: list[str]
) -> DelegateOutput:
    return DelegateOutput(
        patch=verified.patch,
        files=[FileOut(path=f.path, status=f.status, added=f.added, removed=f.removed) for f in verified.files],
        verification=_verification_out(verified, command),
        answer=run.answer,
        steps=[StepOut(name=s.name, arguments=s.arguments, outcome=s.outcome, bytes=s.bytes) for s in run.steps],
        usage=UsageOut.of(run.usage),
        cost=CostOut.of(route.provider.name, route.model, run.usage),
        conversation_id=conversation_id,
        notices=[n for n in dict.fromkeys(notices) if n],
    )


def content_of(out: DelegateOutput, verified: Verification) -> list[ContentBlock]:
    """The verification line and the patch, then the answer, then the notices."""
    lead = f"{_line(verified)}\n\n{verified.patch}" if verified.patch else _line(verified)
    return [block(lead, "patch"), block(out.answer, "answer"), *notice_blocks(out.notices)]


def _verification_out(verified: Verification, command: str | None) -> VerificationOut:
    parses = [ParsedOut(path=p.path, language=p.language, ok=p.ok, detail=p.detail) for p in verified.parses]
    done = verified.check
    check = CheckOut(
        command=command,
        ran=done is not None,
        passed=None if done is None else done.passed,
        exit_code=None if done is None else done.exit_code,
        seconds=None if done is None else round(done.seconds, 3),
        output_tail="" if done is None else done.output_tail,
        sandboxed=None if done is None else done.sandboxed,
    )
    return VerificationOut(applies=verified.applies, applies_detail=verified.applies_detail, parses=parses, check=check)


def _line(verified: Verification) -> str:
    """The verification in one line: what the assistant reads first."""
    if not verified.files:
        return "Verification: no change was made."
    applies = "applies to your current files" if verified.applies else f"does NOT apply ({verified.applies_detail})"
    bad = [p.path for p in verified.parses if p.ok is False]
    unchecked = sum(p.ok is None for p in verified.parses)
    parses = f"{len(bad)} file(s) do NOT parse ({', '.join(bad[:5])})" if bad else "every checked file parses"
    parses += f", {unchecked} not checked" if unchecked else ""
    from mcp_server.delegate import describe

    check = describe(verified.check) if verified.check is not None else "No check ran."
    return f"Verification: the patch {applies}; {parses}. {check}"
