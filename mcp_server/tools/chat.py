"""`chat` (one answer, thinking off) and `reason` (thinking on, the trace returned apart from the answer)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp.types import CallToolResult, ContentBlock
from pydantic import BaseModel, Field

from mcp_server.context.render import with_files
from mcp_server.core.config import CONTEXT_ENV, MAX_PATHS, MAX_PROMPT_CHARS
from mcp_server.core.errors import InputError
from mcp_server.core.text import NotBlank
from mcp_server.serving.app import ToolContext, app_of, owner_of, reporter_for
from mcp_server.spending import budgets
from mcp_server.spending.pricing import cache_saving
from mcp_server.spending.tokens import estimate_messages
from mcp_server.state.conversations import Conversation, Message
from mcp_server.upstream.completion import Completion
from mcp_server.upstream.providers import Effort, Route, ToolKind

from .common import CostOut, UsageOut, block, finish_notice, notice_blocks
from .files import FileOut, SkippedOut, files_notice, files_out, job_for, skipped_out

if TYPE_CHECKING:
    from mcp_server.context import Gathered

JSON_HINT = "Reply with a single JSON object."

Prompt = Annotated[str, Field(description="Message to send.", min_length=1, max_length=MAX_PROMPT_CHARS), NotBlank]
System = Annotated[str | None, Field(description="System prompt.", max_length=MAX_PROMPT_CHARS)]
Model = Annotated[
    str | None,
    Field(description="Default deepseek-flash; see list_models."),
]
MaxTokens = Annotated[int | None, Field(description="Output token cap.", ge=1, le=393_216)]
Temperature = Annotated[float | None, Field(description="Sampling temperature.", ge=0, le=2)]
JsonMode = Annotated[bool, Field(description="Answer as one JSON object.")]
ConversationId = Annotated[str | None, Field(description="From a result, to continue it.")]
# The count is bounded in the schema (a million paths are refused by length alone, 15 bytes of tools/list); each
# path's length in gather.py (4,096 characters).
Files = Annotated[list[str] | None, Field(description="Paths to send; never paste.", max_length=MAX_PATHS)]


class ChatOutput(BaseModel):
    answer: str
    model: str
    provider: str
    finish_reason: str | None
    usage: UsageOut
    cost: CostOut
    conversation_id: str
    notices: list[str]
    files: list[FileOut] = Field(default_factory=list)  # what was sent ahead of the prompt
    skipped: list[SkippedOut] = Field(default_factory=list)


class ReasonOutput(ChatOutput):
    reasoning: str | None


@dataclass(frozen=True)
class Ask:
    """One request to a chat model, as the tools received it."""

    prompt: str
    system: str | None
    model: str | None
    max_tokens: int | None
    temperature: float | None
    json_mode: bool
    conversation_id: str | None
    files: tuple[str, ...] = ()


async def chat(
    prompt: Prompt,
    ctx: ToolContext,
    system: System = None,
    model: Model = None,
    max_tokens: MaxTokens = None,
    temperature: Temperature = None,
    json: JsonMode = False,
    conversation_id: ConversationId = None,
    files: Files = None,
) -> Annotated[CallToolResult, ChatOutput]:
    """Ask a DeepSeek model for a direct answer, without thinking. Fast and cheap."""
    ask = Ask(prompt, system, model, max_tokens, temperature, json, conversation_id, tuple(files or ()))
    done = await _complete(ctx, ask, "chat", effort=None)
    out = ChatOutput(**done.common())
    content: list[ContentBlock] = [block(done.completion.content, "answer"), *notice_blocks(out.notices)]
    return CallToolResult(content=content, structured_content=out.model_dump())


async def reason(
    prompt: Prompt,
    ctx: ToolContext,
    system: System = None,
    model: Model = None,
    max_tokens: MaxTokens = None,
    temperature: Temperature = None,
    json: JsonMode = False,
    conversation_id: ConversationId = None,
    files: Files = None,
    effort: Annotated[Literal["low", "high", "max"], Field(description="Thinking effort.")] = "high",
    include_reasoning: Annotated[bool, Field(description="Return the thinking trace.")] = True,
) -> Annotated[CallToolResult, ReasonOutput]:
    """For hard problems: returns the thinking trace apart from the answer. Slow: minutes at effort max."""
    ask = Ask(prompt, system, model, max_tokens, temperature, json, conversation_id, tuple(files or ()))
    done = await _complete(ctx, ask, "reason", effort=effort)
    reasoning = done.completion.reasoning if include_reasoning else None
    out = ReasonOutput(**done.common(), reasoning=reasoning)
    content: list[ContentBlock] = [block(reasoning, "reasoning")] if reasoning else []
    content += [block(done.completion.content, "answer"), *notice_blocks(out.notices)]
    return CallToolResult(content=content, structured_content=out.model_dump())


@dataclass(frozen=True)
class Done:
    """A finished chat call: what came back, from where, and what the result must tell the caller."""

    completion: Completion
    route: Route
    conversation: Conversation
    notices: list[str]
    gathered: Gathered | None

    def common(self) -> dict[str, Any]:
        completion, route = self.completion, self.route
        return {
            "answer": completion.content,
            "model": completion.model or route.model,
            "provider": route.provider.name,
            "finish_reason": completion.finish_reason,
            "usage": UsageOut.of(completion.usage),
            "cost": CostOut.of(route.provider.name, route.model, completion.usage),
            "conversation_id": self.conversation.id,
            "notices": self.notices,
            "files": files_out(self.gathered),
            "skipped": skipped_out(self.gathered),
        }


async def _complete(ctx: ToolContext, ask: Ask, tool: ToolKind, effort: Effort | None) -> Done:
    app = app_of(ctx)
    route = await app.router.resolve(tool, ask.model)
    # Files are read before the turn is taken: reading needs no history, and a slow disk must not hold the turn.
    gathered = None
    if ask.files:
        from mcp_server.context import gather_files  # with the first call that sends files, not at start-up

        gathered = await gather_files(ask.files, job_for(app))
    async with app.conversations.turn(ask.conversation_id, owner_of(ctx)) as conversation:
        # The files lead this turn's message and stay in its history: the system prompt, the earlier turns and
        # these files form a prefix that a follow-up repeats byte for byte, so DeepSeek's cache serves it.
        user: Message = {"role": "user", "content": with_files(gathered.text if gathered else "", ask.prompt)}
        messages = conversation.messages(ask.system, user)
        _check_context(
            messages, app.settings.limits.max_context_tokens, continued=bool(conversation.turns), gathered=gathered
        )
        bound = app.spending.bound(route, messages, ask.max_tokens, thinking=effort is not None, effort=effort)
        payload = _payload(route, messages, ask, effort, bound.max_tokens)
        reporter = reporter_for(ctx, tool)
        owner = owner_of(ctx)
        async with app.spending.hold(owner, tool, bound.usd) as hold, reporter.running():
            completion = await app.upstream.stream(
                route.provider,
                route.provider.url("chat/completions"),
                payload,
                observer=reporter,
                on_retry=reporter.notice,
                think_tags=route.provider.think_tags(effort is not None),
            )
            cost = app.spending.charge(route.provider.name, route.model, completion.usage)
            await hold.settle(cost, cache_saving(route.provider.name, route.model, completion.usage))
        # The reasoning is kept for a later `investigate` on this conversation, which must send it back (WIRE.md §2).
        answer: Message = {
            "role": "assistant",
            "content": completion.content,
            "reasoning_content": completion.reasoning,
        }
        recorded = await app.conversations.record(conversation, ask.system, [user, answer], completion.finish_reason)
    capped = budgets.capped_notice(bound, app.spending.per_call)
    found = (
        files_notice(gathered),
        capped,
        finish_notice(completion.finish_reason, completion.content),
        recorded.notice(),
    )
    return Done(completion, route, conversation, [n for n in found if n], gathered)


def _check_context(messages: list[Message], budget: int, *, continued: bool, gathered: Gathered | None) -> None:
    """Refuse before sending what cannot fit the model's context, with what to do instead of a provider's 400."""
    estimated = estimate_messages(messages)
    if estimated <= budget:
        return
    advice = "start a new conversation (omit conversation_id) or " if continued else ""
    files = f" The files are ~{gathered.tokens:,} of them; largest: {gathered.largest()}." if gathered else ""
    raise InputError(
        f"the messages come to about {estimated:,} tokens, over the {budget:,} this server sends ({CONTEXT_ENV}, "
        f"sized to the model's context): {advice}send less.{files}"
    )


def _payload(
    route: Route, messages: list[Message], ask: Ask, effort: Effort | None, max_tokens: int | None
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "model": route.model,
        "messages": _with_json_hint(messages) if ask.json_mode else messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        **route.provider.thinking_params(effort is not None, effort),
    }
    if max_tokens is not None:
        payload["max_tokens"] = max_tokens  # the caller's, or lowered to what the per-call limit leaves
    if ask.temperature is not None:
        payload["temperature"] = ask.temperature
    if ask.json_mode:
        payload["response_format"] = {"type": "json_object"}
    return payload


def _with_json_hint(messages: list[Message]) -> list[Message]:
    """DeepSeek's JSON mode requires the word "json" in the prompt; when the caller did not write it, add a line at
    the end of the last message, so the system prompt and the files keep the prefix other calls share."""
    if any("json" in str(m.get("content", "")).lower() for m in messages):
        return messages
    last = messages[-1]
    return [*messages[:-1], {**last, "content": f"{last['content']}\n\n{JSON_HINT}"}]
