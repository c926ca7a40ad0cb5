"""The redaction oracle attack (issue 24), shared by tests/test_redaction_oracle.py (through the real tools) and
tests/reliability/test_redaction_oracle.py (10,000 calls in process).

A caller that gets its own text echoed sees what the server redacted in it. The attack: guesses `tail + s` for every
string s over the key's alphabet, shortest first, as many to a call as the channel echoes; when the echo comes back
changed where the same text echoed by a server holding no key is not, a guess touched the key: bisect to it, keep
it, and grow from the longest end of what is known that comes back unchanged. `Channel` is one way to get text
echoed, through its tool and the same in process (with the server's own redactor).
"""

from __future__ import annotations

import functools
import itertools
import json
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from mcp import Client

from mcp_server.policy.redaction import Redactor
from mcp_server.upstream.errors import Origin, error_from_response
from tests.fake_upstream import FakeUpstream, Reply

# Keys in the providers' real shapes: `sk-` and `apikey-` are public, the 32 hex digits after them are not.
DEEPSEEK_KEY = "sk-5e0b6d2f8a914c7e3b1d9f6a2c8e4b70"
ATLAS_KEY = "apikey-0d9e8c7b6a5f4e3d2c1b0a9f8e7d6c5b"
PREFIXES = {DEEPSEEK_KEY: "sk-", ATLAS_KEY: "apikey-"}
HEX = "0123456789abcdef"
_REQUEST_ID = re.compile(r" \(request id [0-9a-f]+\)$")
Echo = Callable[[str], Awaitable[str]]


@dataclass(frozen=True)
class Channel:
    """One way a caller gets its text echoed: through the real tool, and the same in process."""

    name: str
    room: int  # characters of the caller's text the channel echoes whole
    through_tool: Callable[[Client, FakeUpstream, str], Awaitable[str]]
    in_process: Callable[[Redactor, Redactor, str], str]  # (the server's redactor, the upstream client's, text)


def _text(result: object) -> str:
    return _REQUEST_ID.sub("", result.content[0].text)  # type: ignore[attr-defined]


async def _conversation_id(client: Client, _: FakeUpstream, text: str) -> str:
    return _text(await client.call_tool("chat", {"prompt": "hi", "conversation_id": text}))


def _conversation_id_path(server: Redactor, _: Redactor, text: str) -> str:
    return server(
        f"Error executing tool chat: conversation_id {text!r} is unknown or has expired (conversations are kept 60 "
        "minutes after their last use, 200 at most). Omit conversation_id to start a new conversation."
    )


async def _web_page(client: Client, fake: FakeUpstream, text: str) -> str:
    fake.script(Reply(content=f"# Page\n\n{text}"))  # a page the caller controls, fetched by DeepSeek
    return _text(await client.call_tool("web_fetch", {"url": "https://attacker.example/page"}))


def _web_page_path(server: Redactor, _: Redactor, text: str) -> str:
    return server(f"# Page\n\n{text}")


async def _model_repeats(client: Client, _: FakeUpstream, text: str) -> str:
    return _text(await client.call_tool("chat", {"prompt": text}))  # the fake model answers "You said: ..."


def _model_repeats_path(server: Redactor, _: Redactor, text: str) -> str:
    return server(f"You said: {text} (turn 1)")


async def _model_argument(client: Client, _: FakeUpstream, text: str) -> str:
    # DeepSeek quotes an unknown model id back in its 400 (WIRE.md §13); the tool's advice quotes it too.
    return _text(await client.call_tool("chat", {"prompt": "hi", "model": text}))


_DEEPSEEK = Origin("deepseek", "DeepSeek", "DEEPSEEK_API_KEY", "", "https://platform.deepseek.com/top_up")


def _model_argument_path(server: Redactor, client: Redactor, text: str) -> str:
    said = f"The supported API model names are deepseek-flash, deepseek-v4-pro, but you passed {text}"
    body = json.dumps({"error": {"message": said, "type": "invalid_request_error", "param": None, "code": "x"}})
    error = error_from_response(_DEEPSEEK, 400, {}, body.encode(), model=text, redact=client)
    return server(f"Error executing tool chat: {error}")


CHANNELS = (
    Channel("the conversation_id error", 60, _conversation_id, _conversation_id_path),
    Channel("web_fetch of a page the caller serves", 4096, _web_page, _web_page_path),
    Channel("a model that repeats its prompt", 4096, _model_repeats, _model_repeats_path),
    Channel("a tool argument the provider quotes in an error", 200, _model_argument, _model_argument_path),
)


class _OutOfCalls(Exception):
    pass


class Attacker:
    """Grows a known prefix of a key through an echo, counting every echo it asks for."""

    def __init__(self, echo: Echo, reference: Callable[[str], str], room: int, calls: int) -> None:
        self._echo, self._reference, self._room = echo, reference, room
        self.calls = self.left = calls
        self.grown: list[tuple[int, str]] = []  # (calls used, what was known then)

    async def run(self, prefix: str, alphabet: str) -> str:
        """What the attacker knows of the key when its calls run out."""
        known = prefix
        try:
            tail = await self._clean_tail(prefix)
            while True:
                found = await self._next(tail, alphabet)
                known += found
                self.grown.append((self.calls - self.left, known))
                tail = await self._clean_tail(tail + found)
        except _OutOfCalls:
            return known

    async def _changed(self, guesses: list[str]) -> bool:
        if self.left == 0:
            raise _OutOfCalls
        self.left -= 1
        text = " ".join(guesses)
        return await self._echo(text) != self._reference(text)

    async def _clean_tail(self, known: str) -> str:
        """The longest end of what is known that comes back unchanged: the stem of the next guesses."""
        for start in range(len(known)):
            if not await self._changed([known[start:]]):
                return known[start:]
        return ""

    async def _next(self, tail: str, alphabet: str) -> str:
        """The characters that follow `tail` in the key: the first guess, shortest first, that changes the echo."""
        for guesses in self._batches(tail, alphabet):
            if await self._changed(guesses):
                while len(guesses) > 1:
                    half = guesses[: len(guesses) // 2]
                    guesses = half if await self._changed(half) else guesses[len(half) :]
                return guesses[0][len(tail) :]
        raise _OutOfCalls

    def _batches(self, tail: str, alphabet: str) -> Iterator[list[str]]:
        for length in itertools.count(1):
            per = max(1, self._room // (len(tail) + length + 1))
            inner = _strings(alphabet, min(length, 4))
            for outer in _strings(alphabet, length - len(inner[0])):
                guesses = [f"{tail}{outer}{chars}" for chars in inner]
                for start in range(0, len(guesses), per):
                    yield guesses[start : start + per]


@functools.cache
def _strings(alphabet: str, length: int) -> list[str]:
    return ["".join(chars) for chars in itertools.product(alphabet, repeat=length)]


def in_process(fn: Callable[[str], str]) -> Echo:
    """A synchronous echo as the attacker's awaitable one."""

    async def echo(text: str) -> str:
        return fn(text)

    return echo


def slower(work: Callable[[str], object], near: str, far: str, tries: int = 11) -> float:
    """The timing channel: how much longer `work` (the server's redaction, its scan) takes over a text whose guesses
    share characters with a key (`near`) than over the same text with them in another order (`far`): the fastest of
    `tries` interleaved runs of each, as a ratio; the least of three such ratios, as a leak shows in every one of
    them and a busy machine's burst in one."""
    ratios = []
    for _ in range(3):
        fastest = {near: float("inf"), far: float("inf")}
        for _ in range(tries):
            for text in random.sample([near, far], 2):
                started = time.perf_counter()
                work(text)
                fastest[text] = min(fastest[text], time.perf_counter() - started)
        ratios.append(fastest[near] / fastest[far])
    return min(ratios)


def repeated(guess: str, size: int = 2**20) -> str:
    """`guess` and a space, again and again to `size` characters: what a few echoes carry."""
    return (guess + " ") * (size // (len(guess) + 1))


def shuffled(text: str, seed: int = 7) -> str:
    """`text`'s characters in another order (the same alphabet and length, sharing no run with a key)."""
    return "".join(random.Random(seed).sample(text, len(text)))
