"""What `investigate` returns: the answer, each citation with what its check found, the steps, and the notices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from mcp_server.upstream.completion import Usage
from mcp_server.upstream.providers import Route

from .common import CostOut, UsageOut, finish_notice

if TYPE_CHECKING:
    from mcp_server.agent import Run
    from mcp_server.agent.audit import Audited
    from mcp_server.agent.evidence import Citation

MAX_NOTED = 5  # failed citations named in the notice


class EvidenceOut(BaseModel):
    path: str
    start_line: int
    end_line: int
    quote: str  # the text of those lines on disk, capped; empty when the lines do not exist
    verified: bool
    check: str  # "holds", or which check failed: "not read in this run", "names missing: has", "no such lines" ...
    claim: str  # the sentence of the answer the citation supports


class StepOut(BaseModel):
    name: str
    arguments: dict[str, Any]
    outcome: str
    bytes: int  # of the result the model received


class InvestigateOutput(BaseModel):
    answer: str
    reasoning: str | None
    evidence: list[EvidenceOut]
    steps: list[StepOut]
    usage: UsageOut
    cost: CostOut
    conversation_id: str
    notices: list[str]


def output(
    run: Run, route: Route, evidence: list[Citation], usage: Usage, conversation_id: str, found: Sequence[str | None]
) -> InvestigateOutput:
    return InvestigateOutput(
        answer=run.answer,
        reasoning=run.reasoning or None,
        evidence=[
            EvidenceOut(
                path=c.path,
                start_line=c.start_line,
                end_line=c.end_line,
                quote=c.quote,
                verified=c.verified,
                check=c.check,
                claim=c.claim,
            )
            for c in evidence
        ],
        steps=[StepOut(name=s.name, arguments=s.arguments, outcome=s.outcome, bytes=s.bytes) for s in run.steps],
        usage=UsageOut.of(usage),
        cost=CostOut.of(route.provider.name, route.model, usage),
        conversation_id=conversation_id,
        notices=[n for n in found if n],
    )


def evidence_notice(evidence: list[Citation]) -> str | None:
    """Which citations failed and why, by name (those refuted by the audit have their own notice)."""
    wrong = [c for c in evidence if not c.verified and not c.check.startswith("refuted")]
    if not wrong:
        return None
    named = "; ".join(f"{c.path}:{c.lines} ({c.check.partition(':')[0]}: {c.detail})" for c in wrong[:MAX_NOTED])
    more = f"; and {len(wrong) - MAX_NOTED} more" if len(wrong) > MAX_NOTED else ""
    return f"{len(wrong)} of {len(evidence)} citations are not verified (see evidence): {named}{more}."


def audit_notice(audited: Audited | None) -> str | None:
    if audited is None:
        return None
    refuted = [c for c in audited.evidence if c.check.startswith("refuted")]
    said = f"The audit checked {audited.checked} claims"
    if audited.unchecked:
        said += f" ({audited.unchecked} verified ones left unchecked)"
    if not refuted:
        return f"{said}; none was refuted."
    named = "; ".join(f"{c.path}:{c.lines} ({c.check.partition(': ')[2][:200]})" for c in refuted[:MAX_NOTED])
    more = f"; and {len(refuted) - MAX_NOTED} more" if len(refuted) > MAX_NOTED else ""
    return f"{said} and refuted {len(refuted)}: {named}{more}."


def finish(run: Run) -> str | None:
    if run.finish_reason == "length":
        # No max_tokens to raise here: a thinking turn can spend its whole output on reasoning (WIRE.md §14).
        return (
            "The model's last turn ran out of output tokens (finish_reason=length)"
            + (" before it answered" if not run.answer.strip() else "")
            + "; ask again with effort low or a narrower question."
        )
    return finish_notice(run.finish_reason, run.answer)
