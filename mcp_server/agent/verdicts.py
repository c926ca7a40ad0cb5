"""Independent checks: one model run per question, with none of the asker's history, that ends when the model calls
`verdict {holds, reason}` (a contract with the model). `review` checks its findings with them, `investigate`'s
`audit` its citations.

How to use it:

    judge = Judge(app.upstream, route, effort="high", budget=limits.max_context_tokens, spend=spend, spent=run.spent)
    answers = await judge.all([Question(SYSTEM, prompt) for prompt in prompts], progress)

- A question may offer functions besides `verdict` (review's checks read the repository) with their handler and a
  step bound; the run ends at the first well-formed verdict, and at the bound the model is asked for it with only
  `verdict` offered (agent/loop.py, `Task.until`).
- PARALLEL questions run at once; cancelling `all` cancels every one. Each model turn of every question is held
  against the caller's per-call limit counting the others spent and in flight (`judge.spent` is the call's total).
- An answer without a verdict says why in `error` (not sent for the budget, failed upstream, none given).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from mcp_server.core.errors import DeepSeekMCPError
from mcp_server.core.quoting import clip
from mcp_server.serving.progress import Heartbeats, ProgressReporter
from mcp_server.spending.budgets import BudgetError, Spend, refused
from mcp_server.state.conversations import Message
from mcp_server.upstream.client import UpstreamClient
from mcp_server.upstream.completion import Completion, ToolCall, Usage
from mcp_server.upstream.providers import Effort, Route

from .functions import Function, Outcome
from .loop import Handler, Loop, Task, with_functions

PARALLEL = 4  # questions in flight at once
MAX_REASON = 2000
VERDICT = Function(
    "verdict",
    "Your verdict: whether it holds, and why.",
    {
        "type": "object",
        "properties": {
            "holds": {"type": "boolean", "description": "True if it is right (a finding: a real problem)."},
            "reason": {"type": "string", "description": "Why, citing the code."},
        },
        "required": ["holds", "reason"],
    },
)


@dataclass(frozen=True)
class Verdict:
    holds: bool
    reason: str


@dataclass(frozen=True)
class Question:
    """One check: its system prompt and request; the functions it may call besides `verdict`, their handler, and how
    many calls it may make in all (verdict included)."""

    system: str
    prompt: str
    functions: tuple[Function, ...] = ()
    handle: Handler | None = None
    max_steps: int = 2


@dataclass
class Answer:
    verdict: Verdict | None = None
    error: str = ""
    usage: Usage = field(default_factory=Usage)
    steps: int = 0  # function calls made, verdict included


Progress = Callable[[int, int, int, "Answer"], Awaitable[None]]  # (done, total, which question, its answer)


class Judge:
    """Runs questions against one route, priced as one call."""

    def __init__(
        self,
        upstream: UpstreamClient,
        route: Route,
        *,
        effort: Effort | None,
        budget: int,
        spend: Spend | None = None,
        spent: float = 0.0,
    ) -> None:
        self._pool = _Pool(spent)
        self._spend = None if spend is None else _Pooled(spend.spending, spend.owner, spend.tool, self._pool)
        self._upstream = upstream
        self._route = route
        self._effort = effort
        self._budget = budget

    @property
    def spent(self) -> float:
        """USD of the whole call so far: what it had spent before, and every question's turns."""
        return self._pool.spent

    async def all(self, questions: list[Question], progress: Progress) -> list[Answer]:
        """Every question answered, PARALLEL at a time, in the order given."""
        answers = [Answer() for _ in questions]
        limiter = anyio.CapacityLimiter(PARALLEL)
        done = 0

        async def one(index: int) -> None:
            nonlocal done
            async with limiter:
                answers[index] = await self.one(questions[index])
            done += 1
            await progress(done, len(questions), index, answers[index])

        async with anyio.create_task_group() as tg:
            for index in range(len(questions)):
                tg.start_soon(one, index)
        return answers

    async def one(self, question: Question) -> Answer:
        answer = Answer()

        async def record(call: ToolCall) -> Outcome:
            verdict = verdict_in(call.arguments)
            if verdict is None:
                text = "Refused: pass holds (true or false) and reason; call verdict again."
                return Outcome(text, "refused: a malformed verdict", refused=True)
            answer.verdict = verdict
            return Outcome("Recorded.", f"verdict: {'holds' if verdict.holds else 'refuted'}")

        handle = with_functions(question.handle or _refuse, {VERDICT.name: record})
        task = Task((*question.functions, VERDICT), handle, question.max_steps, name="check", until=(VERDICT.name,))
        messages: list[Message] = [
            {"role": "system", "content": question.system},
            {"role": "user", "content": question.prompt},
        ]
        loop = Loop(self._upstream, self._route, _quiet(), effort=self._effort, budget=self._budget, spend=self._spend)
        try:
            run = await loop.run(messages, task)
        except BudgetError as e:
            answer.error = f"its check was not sent: {clip(str(e), 300)}"
            return answer
        except DeepSeekMCPError as e:
            answer.error = f"its check failed: {clip(str(e), 300)}"
            return answer
        answer.usage, answer.steps = run.usage, len(run.steps)
        if answer.verdict is None:
            answer.error = "its check gave no verdict"
        return answer


def verdict_in(arguments: str) -> Verdict | None:
    """The verdict a call's arguments give, or None when they are not a well-formed one."""
    try:
        args = json.loads(arguments or "{}")
    except ValueError:
        return None
    if not isinstance(args, dict) or not isinstance(args.get("holds"), bool):
        return None
    reason = clip(str(args.get("reason") or "").strip(), MAX_REASON) or "(no reason given)"
    return Verdict(args["holds"], reason)


async def _refuse(call: ToolCall) -> Outcome:
    return Outcome(f"Refused: there is no function {call.name[:100]!r} here; call verdict.", "refused", refused=True)


def _quiet() -> ProgressReporter:
    """A reporter that says nothing: a question's steps are counted by its asker, one per answer."""

    async def nothing(progress: float, total: float | None, message: str | None) -> None:
        return None

    return ProgressReporter(nothing, Heartbeats())


@dataclass
class _Pool:
    spent: float
    in_flight: float = 0.0  # estimates of the turns sent and not yet settled: they count for the limit too


@dataclass(frozen=True)
class _Pooled(Spend):
    """One question's spending, held against the call's limit with every other question's spent and in flight."""

    pool: _Pool = field(default_factory=lambda: _Pool(0.0))

    async def priced(
        self,
        route: Route,
        messages: list[dict[str, Any]],
        thinking: bool,
        already: float,
        send: Callable[[int | None], Awaitable[Completion]],
        effort: str | None = None,
    ) -> tuple[Completion, float]:
        # Questions run in parallel: each takes the others' figures and adds its own in one step (no await between),
        # so together they cannot pass the per-call limit on the same `spent`. `already` (this run's own) is in it.
        before = self.pool.spent + self.pool.in_flight
        guess = self.spending.bound(route, messages, None, thinking=thinking, effort=effort, already=before).usd
        self.pool.in_flight += guess
        try:
            completion, cost = await super().priced(route, messages, thinking, before, send, effort)
        except BaseException as exc:
            if not refused(exc):  # recorded at its hold (the provider may have billed it): the others count it too
                self.pool.spent += guess
            raise
        finally:
            self.pool.in_flight -= guess
        self.pool.spent += cost
        return completion, cost
