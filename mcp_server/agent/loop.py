"""The model/function loop: DeepSeek calls functions, the server runs each and sends the result back, until the
model answers in text or a bound stops it. Built to be reused by every tool that lets a model act on the server.

How to use it (the interface `investigate` uses, and `review` or a checker can):

    messages = conversation.messages(MY_SYSTEM_PROMPT, user, reasoning=thinking_for(route))
    handle = with_functions(read_only(workspace), {"report_finding": on_finding})
    task = Task(functions=(*READ_ONLY, REPORT_FINDING), handle=handle, max_steps=16)
    spend = Spend(app.spending, owner_of(ctx), "investigate")
    run = await Loop(app.upstream, route, reporter, effort="high", budget=limits.max_context_tokens, spend=spend).run(
        messages, task
    )

- The system prompt is the first of `messages`, which the caller builds (with the conversation's history when it
  continues one); `thinking_for(route)` says whether the route calls functions with thinking on, and raises a
  ConfigError naming a model that can when it cannot call them at all.
- `functions` are offered to the model as they are (`Function.wire()`); a checker that may only give a verdict
  offers `(VERDICT,)` alone, with a handler for that one name.
- `handle(call)` runs one call and returns an `Outcome` (the text the model receives, a one-line summary); it is
  called for every call, known or not, and must not raise for anything the model did. `read_only(workspace)` is
  the handler of the four read-only functions; `with_functions` puts handlers of your own names in front of it.
- The loop only appends to `messages`, so every turn repeats the previous request as its prefix and DeepSeek's
  cache serves it (WIRE.md §14).
- `spend` puts every model turn under the caller's spending limits (mcp_server/spending/budgets.py): each turn's
  estimate is held against the day and settled with its cost; before a turn that may call functions, the loop stops
  for its best answer when that turn and a final one would pass DEEPSEEK_MCP_MAX_COST_PER_CALL; every turn is held
  after what the run spent, a turn that may call functions leaving a typical turn's estimate for the final answer,
  whose max_tokens is what the limit leaves. A daily budget spent mid-run fails the call; what was spent is recorded.
- `run.trail` is what the loop appended (assistant turns with `reasoning_content` and `tool_calls`, tool results):
  keep it in the conversation so a follow-up continues with what was read.

DeepSeek's rules (WIRE.md §2, §14) are kept here: in thinking mode every assistant turn carries its
`reasoning_content` back; every `tool_calls` turn is followed by one `tool` message per id, in order (a call past
`max_steps` gets a refusal, never silence); `tool_choice` is never "required". At `max_steps`, at the wall-time
bound or near the context budget, the model is asked once more with `tool_choice: "none"` (tools stay in the
request, so its prefix stays cached) for its best answer, and a notice says which bound was hit. A task with `until`
(a check's `verdict`) ends at the first such call answered without a refusal; at a bound it is offered only those.

Progress: one notification per model turn that called functions ("step 3: grep 'x' — 2 matches; read_file ..."),
its value the turns so far; the stream itself sends none (the heartbeat covers a long thought).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from mcp_server.core import threads
from mcp_server.core.config import CONTEXT_ENV, MAX_COST_ENV
from mcp_server.core.errors import ConfigError
from mcp_server.serving.progress import ProgressReporter
from mcp_server.spending import budgets
from mcp_server.spending.budgets import Spend
from mcp_server.spending.tokens import estimate, estimate_messages
from mcp_server.state.conversations import Message
from mcp_server.upstream.client import UpstreamClient
from mcp_server.upstream.completion import Completion, ToolCall, Usage
from mcp_server.upstream.providers import Effort, Route

from .functions import Function, Outcome, call
from .workspace import Workspace

MAX_SECONDS = 600.0  # wall time of one run; then the model is asked for its answer
MAX_ARGUMENTS_SHOWN = 4096  # characters of a call's arguments kept in `steps`
CONTEXT_SHARE = 0.9  # of the context budget: past it, no more function results are taken
PER_TURN = 8  # tokens of role markers and call ids around each message (an estimate, as tokens.py)
FINAL_PROMPT = (
    "Stop calling functions now ({why}). Answer the question from what you have read, citing code as path:LINE or "
    "path:START-END, and say what you could not check."
)
CLOSING_PROMPT = "Stop reading now ({why}). From what you have read, call {names} now."
MAX_CALLS_SHOWN = 4  # function calls named in one step's progress message
Handler = Callable[[ToolCall], Awaitable[Outcome]]


@dataclass(frozen=True)
class Task:
    """What one run is for: the functions offered, who runs them, and the step bound."""

    functions: tuple[Function, ...]
    handle: Handler
    max_steps: int
    name: str = "investigation"  # what the notice at a bound calls the run ("The review stopped at ...")
    # Names whose call, once answered without a refusal, ends the run (a check's `verdict`); at a bound the last
    # turn is offered only these, and asked to call one.
    until: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    name: str
    arguments: dict[str, Any]
    outcome: str
    bytes: int


@dataclass(frozen=True)
class TurnStat:
    """One model turn, for the benchmark: request bytes, prompt tokens and how many of them hit the cache."""

    bytes_sent: int
    prompt_tokens: int
    cache_hit_tokens: int


@dataclass
class Run:
    answer: str = ""
    reasoning: str = ""
    finish_reason: str | None = None
    model: str | None = None
    steps: list[Step] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    turns: list[TurnStat] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    trail: list[Message] = field(default_factory=list)  # appended after the user message, answer excluded
    spent: float = 0.0  # USD of the turns so far (priced models only)
    final: Message = field(default_factory=dict)  # the answering assistant turn


def thinking_for(route: Route) -> bool:
    """Whether the loop runs with thinking on for this route; ConfigError when it cannot call functions at all."""
    mode = route.provider.tool_calls
    if mode is None or route.traits.deepseek_ocr:
        what = f"{route.model[:100]} on {route.provider.origin.label}"
        raise ConfigError(
            f"{what} cannot call functions, which this tool needs: pass model deepseek-flash (DeepSeek's API) or "
            "deepseek-ai/deepseek-v4-flash (Atlas Cloud), or serve DeepSeek-V3.1 with vLLM's --tool-call-parser "
            "deepseek_v31"
        )
    return mode == "thinking"


def read_only(workspace: Workspace) -> Handler:
    """The handler of list_dir, glob, grep and read_file: each call in a worker thread, abandoned on cancel."""

    async def handle(tool_call: ToolCall) -> Outcome:
        try:
            return await threads.run(call, workspace, tool_call.name, tool_call.arguments)
        except anyio.get_cancelled_exc_class():
            workspace.stop.set()  # the abandoned thread stops at its next look at the clock
            raise

    return handle


def with_functions(fallback: Handler, handlers: dict[str, Handler]) -> Handler:
    """A handler that sends calls of `handlers`' names to them, and every other call to `fallback`."""

    async def handle(tool_call: ToolCall) -> Outcome:
        return await handlers.get(tool_call.name, fallback)(tool_call)

    return handle


class Loop:
    """Runs one task against one route; `reporter` gets one progress line per step (a model turn and its calls)."""

    def __init__(
        self,
        upstream: UpstreamClient,
        route: Route,
        reporter: ProgressReporter,
        *,
        effort: Effort | None,
        budget: int,
        spend: Spend | None = None,
    ) -> None:
        self._spend = spend
        self._upstream = upstream
        self._route = route
        self._reporter = reporter
        self._thinking = thinking_for(route)
        self._effort = effort
        self._budget = budget

    async def run(self, messages: list[Message], task: Task) -> Run:
        run = Run()
        start = len(messages)
        tokens = estimate_messages(messages) + estimate(json.dumps([f.wire() for f in task.functions]))
        deadline = time.monotonic() + MAX_SECONDS
        why: str | None = None
        while True:
            completion = await self._turn(messages, task, run, final=why is not None)
            calls = _offered(completion.tool_calls, task, final=why is not None)
            message = self._assistant(completion, calls)
            if not calls:
                run.final = message
                break
            messages.append(message)
            tokens += estimate(completion.reasoning) + estimate(completion.content) + PER_TURN
            done: list[tuple[ToolCall, Outcome]] = []
            for tool_call in calls:
                full = tokens > self._budget * CONTEXT_SHARE  # 64 results of 64 KiB in one turn must not pass it
                outcome = await self._step(tool_call, task, run, full)
                done.append((tool_call, outcome))
                result: Message = {"role": "tool", "tool_call_id": tool_call.id, "content": outcome.text}
                messages.append(result)
                tokens += estimate(outcome.text) + estimate(tool_call.arguments) + PER_TURN
            await self._reporter.step(len(run.turns), _progress(len(run.turns), done))
            if any(c.name in task.until and not o.refused for c, o in done) or why is not None:
                run.final = message
                break
            why = self._bound(run, task, tokens, deadline) or self._over_cost(run, messages)
            if why is not None:
                run.notices.append(
                    f"The {task.name} stopped at {why}; the answer is the model's best from what it read."
                )
                messages.append({"role": "user", "content": _final_prompt(task, why)})
        run.trail = messages[start:]
        run.answer, run.reasoning = completion.content, completion.reasoning
        run.finish_reason, run.model = completion.finish_reason, completion.model
        return run

    def _bound(self, run: Run, task: Task, tokens: int, deadline: float) -> str | None:
        if len(run.steps) >= task.max_steps:
            return f"max_steps ({task.max_steps} function calls)"
        if time.monotonic() > deadline:
            return f"the wall-time bound ({MAX_SECONDS / 60:g} minutes)"
        if tokens > self._budget * CONTEXT_SHARE:
            return f"the context budget ({CONTEXT_ENV}={self._budget:,} tokens)"
        return None

    def _over_cost(self, run: Run, messages: list[Message]) -> str | None:
        """Whether the next turn and a final one could pass the per-call cost limit, on this turn's estimate."""
        limit = self._spend.spending.per_call if self._spend is not None else None
        if limit is None:
            return None
        turn = budgets.estimate(self._route, messages, None, thinking=self._thinking)
        if turn is None or run.spent + 2 * turn <= limit:
            return None
        return f"the per-call cost limit ({MAX_COST_ENV}=${limit:g}; ${run.spent:.4f} spent)"

    def _reserve(self, run: Run, messages: list[Message]) -> float:
        """USD a turn that may call functions leaves under the per-call limit for the final answer: a typical turn,
        or less where that would leave this turn less than one."""
        limit = self._spend.spending.per_call if self._spend is not None else None
        turn = budgets.estimate(self._route, messages, None, thinking=self._thinking)
        if limit is None or turn is None:
            return 0.0
        return max(0.0, min(turn, limit - run.spent - turn))

    async def _turn(self, messages: list[Message], task: Task, run: Run, *, final: bool) -> Completion:
        if self._spend is None:
            return await self._send(messages, task, run, final=final)
        # Every turn is held after what the run spent, so the call never passes the per-call limit; a turn that may
        # call functions also leaves room for a final answer (a typical turn's estimate, as _over_cost counts it),
        # so a run stopped by the limit still answers within it.
        completion, cost = await self._spend.priced(
            self._route,
            messages,
            self._thinking,
            run.spent if final else run.spent + self._reserve(run, messages),
            lambda max_tokens: self._send(messages, task, run, final=final, max_tokens=max_tokens),
            effort=self._effort if self._thinking else None,
        )
        run.spent += cost
        return completion

    async def _send(
        self, messages: list[Message], task: Task, run: Run, *, final: bool, max_tokens: int | None = None
    ) -> Completion:
        payload: dict[str, Any] = {
            "model": self._route.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "tools": [f.wire() for f in task.functions if not (final and task.until) or f.name in task.until],
            **self._route.provider.thinking_params(self._thinking, self._effort if self._thinking else None),
        }
        if final and not task.until:
            payload["tool_choice"] = "none"
        if max_tokens is not None:  # what the per-call limit leaves this turn (budgets.Spending.bound)
            payload["max_tokens"] = max_tokens
        provider = self._route.provider
        # No stream observer: progress is one notification per step (and the heartbeat while the model thinks).
        completion = await self._upstream.stream(
            provider,
            provider.url("chat/completions"),
            payload,
            on_retry=self._reporter.notice,
            think_tags=provider.think_tags(self._thinking),
        )
        usage = completion.usage
        run.usage += usage
        sent = len(json.dumps(payload, ensure_ascii=False).encode())
        run.turns.append(TurnStat(sent, usage.prompt_tokens, usage.cache_hit_tokens))
        return completion

    def _assistant(self, completion: Completion, calls: tuple[ToolCall, ...]) -> Message:
        message: Message = {"role": "assistant", "content": completion.content}
        if self._thinking:
            message["reasoning_content"] = completion.reasoning  # the rule: every turn carries it back
        if calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in calls
            ]
        return message

    async def _step(self, tool_call: ToolCall, task: Task, run: Run, full: bool) -> Outcome:
        # Every call id gets its tool message, run or not, or the next request is a 400.
        if len(run.steps) >= task.max_steps:
            return Outcome(f"Refused: the step limit (max_steps={task.max_steps}) is reached; not run.", "not run")
        if full:
            return Outcome(f"Refused: the context budget ({CONTEXT_ENV}) is nearly used; not run.", "not run")
        outcome = await task.handle(tool_call)
        size = len(outcome.text.encode())
        run.steps.append(Step(tool_call.name, _arguments(tool_call.arguments), outcome.summary, size))
        return outcome


def _offered(calls: tuple[ToolCall, ...], task: Task, *, final: bool) -> tuple[ToolCall, ...]:
    """The calls of a turn that are run: all of them; after a bound, none, or only the task's closing ones."""
    if not final:
        return calls
    return tuple(c for c in calls if c.name in task.until)


def _final_prompt(task: Task, why: str) -> str:
    if task.until:
        return CLOSING_PROMPT.format(why=why, names=" or ".join(task.until))
    return FINAL_PROMPT.format(why=why)


def _progress(turn: int, done: list[tuple[ToolCall, Outcome]]) -> str:
    """One step's progress message: the turn, and its function calls with what each found."""
    shown = [f"{_short(c)} — {o.summary}" for c, o in done[:MAX_CALLS_SHOWN]]
    more = f"; and {len(done) - MAX_CALLS_SHOWN} more calls" if len(done) > MAX_CALLS_SHOWN else ""
    return f"step {turn}: {'; '.join(shown)}{more}"


def _arguments(text: str) -> dict[str, Any]:
    if len(text) > MAX_ARGUMENTS_SHOWN:  # kept in the result's steps: a model's megabyte stays out of it
        return {"unparsed": f"{text[:500]}… ({len(text):,} characters)"}
    try:
        parsed = json.loads(text or "{}")
    except ValueError:
        return {"unparsed": text[:500]}
    return parsed if isinstance(parsed, dict) else {"unparsed": text[:500]}


def _short(tool_call: ToolCall) -> str:
    args = _arguments(tool_call.arguments)
    first = next((str(v) for v in args.values()), "")
    return f"{tool_call.name} {first[:60]!r}" if first else tool_call.name
