"""Fuzzing: Hypothesis-made arguments for every tool, and random bytes as OCR sources, over stdio.

Arguments mix plausible values (so calls reach the upstream) with wrong types, huge strings, unicode, nulls,
negative and huge numbers, and unknown keys. Whatever arrives, the server must give one result in time: an `isError`
result that says what was wrong (never the SDK's bare "Error executing tool X", which is what a crash becomes), or
an answer whose structured content fits the tool's output schema. The run is derandomised so CI sees the same
examples every time; set FUZZ_SCALE=10 locally for ten times the examples, drawn at random.
"""

from __future__ import annotations

import base64
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from mcp_server.tools.account import BalanceOutput
from mcp_server.tools.chat import ChatOutput, ReasonOutput
from mcp_server.tools.delegate import DelegateOutput
from mcp_server.tools.fim import FimOutput
from mcp_server.tools.investigate import InvestigateOutput
from mcp_server.tools.models import ModelsOutput
from mcp_server.tools.ocr.model import OcrOutput
from mcp_server.tools.review_out import ReviewOutput
from mcp_server.tools.web import FetchOutput, SearchOutput
from tests.conftest import ATLAS_KEY, DEEPSEEK_KEY
from tests.fake_upstream import Reply
from tests.gitrepos import make_repo
from tests.reliability.conftest import PlannedUpstream, StdioServer, server_env, stdio_server, text_of
from tests.samples import pdf, png

pytestmark = [
    pytest.mark.reliability,
    # Hypothesis warns when it prints a failing example with a megabyte string in it; the example is still right.
    pytest.mark.filterwarnings("ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning"),
]

SCALE = int(os.environ.get("FUZZ_SCALE", "1"))  # CI runs the fixed examples; FUZZ_SCALE=10 hunts at random
OUTPUTS: dict[str, type[BaseModel]] = {
    "chat": ChatOutput,
    "reason": ReasonOutput,
    "fim": FimOutput,
    "investigate": InvestigateOutput,
    "ocr": OcrOutput,
    "web_search": SearchOutput,
    "web_fetch": FetchOutput,
    "review": ReviewOutput,
    "delegate": DelegateOutput,
    "list_models": ModelsOutput,
    "balance": BalanceOutput,
}
EXAMPLES = {
    "chat": 150,
    "reason": 100,
    "fim": 100,
    "investigate": 50,
    "ocr": 150,
    "web_search": 100,
    "web_fetch": 100,
    "review": 30,
    "delegate": 30,
    "list_models": 30,
    "balance": 30,
}
SOURCE_EXAMPLES = 300
MAX_ERROR_CHARS = 4_000  # an error quotes what was wrong, never a whole huge argument
CALL_DEADLINE = 30.0
RAN: Counter[str] = Counter()
ANSWERED: Counter[str] = Counter()

# --- values -----------------------------------------------------------------------------------------------------

CHARS = st.characters(exclude_categories=("Cs",))  # lone surrogates cannot be encoded as UTF-8 JSON by any client
TEXT = st.text(CHARS, max_size=80)
HUGE = st.builds(lambda ch, n: ch * n, CHARS, st.sampled_from([65_536, 1_000_001, 2_000_000]))
NUMBERS = (
    st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0, -1, 1, 4096, 4097, 393_216, 393_217, 2**31, -(2**63)])
)
SCALARS = st.none() | st.booleans() | NUMBERS | TEXT
ANYTHING = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
# Values of the right shape that a model might still get wrong: retired or unknown ids, out-of-range numbers.
NEAR_MISSES = st.sampled_from(
    ["deepseek-reasoner", "openai:anything", "atlas:", ":", "", "nope/nope", "-1", "1-", "0", "99", "ocr", "HIGH"]
) | st.sampled_from([-1, 0, 4097, 393_217, -0.5, 2.5, 2**31])
WILD = ANYTHING | HUGE | NEAR_MISSES

# Valid values, so the plausible half of the examples reaches the upstream.
TEXT1 = st.text(CHARS, min_size=1, max_size=80)
PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "prompt": TEXT1,
    "question": TEXT1,
    "task": TEXT1,
    "check": st.booleans(),
    "system": st.none() | TEXT,
    "model": st.none()
    | st.sampled_from(
        ["deepseek-flash", "deepseek-v4-pro", "deepseek-ai/deepseek-v4-flash", "atlas:deepseek-ai/deepseek-v4-pro"]
    ),
    "max_tokens": st.none() | st.integers(1, 4096),
    "temperature": st.none() | st.floats(0, 2),
    "json": st.booleans(),
    "conversation_id": st.none(),
    "effort": st.sampled_from(["low", "high", "max"]),
    "include_reasoning": st.booleans(),
    "prefix": TEXT1,
    "suffix": st.none() | TEXT,
    "mode": st.sampled_from(["markdown", "text", "figure", "describe", "locate"]),
    "target": st.none() | TEXT1,
    "pages": st.none() | st.sampled_from(["1", "1-2", "2-", "1,2"]),
    "include_boxes": st.none() | st.booleans(),
    "source": st.sampled_from(["sample.png", "sample.pdf", "https://example.com/scan.png"]),
    "query": TEXT1 | st.sampled_from(["site:example.com ocr", '"exact phrase" lang:en', "news after:2026-10-01"]),
    "count": st.integers(1, 50),
    "need_content": st.booleans(),
    "audit": st.booleans(),
    "url": st.sampled_from(
        ["https://example.com/a", "http://example.org/", "ftp://example.com/x", "https://user:pw@example.com/", "x"]
    ),
    # A text file, a binary one, a folder of both and a missing path, relative to the server's working directory.
    "files": st.none() | st.lists(st.sampled_from(["notes/todo.md", "sample.png", "notes", "nope.txt"]), max_size=3),
    # investigate and delegate: the working directory (no paths), a folder of it, the repository, a missing path.
    "paths": st.none() | st.lists(st.sampled_from(["notes", "repo", "repo/src", "nope"]), min_size=1, max_size=2),
    # review: a repository with uncommitted changes, folders that are none, and refs that are options or unknown.
    "path": st.sampled_from(["repo", "repo/src", ".", "notes", "nope", "/"]),
    "base": st.none() | st.sampled_from(["HEAD~1", "main..HEAD", "main...HEAD", "--output=/tmp/x", "-p"]) | TEXT,
}

# --- OCR sources ----------------------------------------------------------------------------------------------------

PNG = png((64, 32))
PDF = pdf(40, 30)
MAGIC = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBP", b"%PDF-1.7\n", b"BM", b""]


def _mutated(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for at, value in edits:
        out[at % len(out)] = value
    return bytes(out)


RAW_BYTES = (
    st.binary(max_size=4_096)
    | st.builds(lambda magic, tail: magic + tail, st.sampled_from(MAGIC), st.binary(max_size=2_048))
    | st.builds(
        _mutated, st.sampled_from([PNG, PDF]), st.lists(st.tuples(st.integers(0), st.integers(0, 255)), max_size=6)
    )
    | st.builds(lambda data, cut: data[:cut], st.sampled_from([PNG, PDF]), st.integers(1, 400))
)


@st.composite
def _sources(draw: st.DrawFn, folder: Path) -> str:
    """Random bytes as a file path, raw base64 or a data: URL; or a string that is none of these."""
    how = draw(st.sampled_from(["file", "base64", "data", "text"]))
    if how == "text":
        return draw(
            TEXT | st.sampled_from(["file:///etc/passwd", "ftp://x/y.png", "/etc/shadow", "~nobody/x", "http://", "."])
        )
    data = draw(RAW_BYTES)
    if how == "file":
        path = folder / "fuzzed-source"
        path.write_bytes(data)
        return str(path)
    encoded = base64.b64encode(data).decode()
    if how == "data":
        mime = draw(st.sampled_from(["image/png", "application/pdf", "text/plain", ""]))
        return f"data:{mime};base64,{encoded}"
    return encoded


# --- the server -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(workdir: Path) -> Iterator[StdioServer]:
    # Every chat-shaped request gets a short answer: the fake would otherwise echo a huge prompt back one piece at
    # a time, which tests the fake, not the server.
    quick = Reply(content="fuzzed answer")
    (workdir / "sample.png").write_bytes(PNG)
    (workdir / "sample.pdf").write_bytes(PDF)
    (workdir / "notes").mkdir()
    (workdir / "notes" / "todo.md").write_text("- fuzz the `files` argument\n")
    (workdir / "notes" / "logo.png").write_bytes(PNG)
    make_repo(workdir, "repo")  # for review: two commits and uncommitted changes
    with (
        PlannedUpstream("deepseek", DEEPSEEK_KEY, default=quick) as deepseek,
        PlannedUpstream("atlas", ATLAS_KEY, default=quick) as atlas,
        stdio_server(server_env(deepseek, atlas, DEEPSEEK_MCP_TIMEOUT="5"), workdir) as live,
    ):
        yield live


def _arguments(tool: str, server: StdioServer) -> st.SearchStrategy[dict[str, Any]]:
    """Half the examples use plausible values only (so many reach the upstream), half mix in wild ones."""
    names = _parameters(server)[tool]
    plausible = {name: PLAUSIBLE.get(name, ANYTHING) for name in names}
    wild = {name: PLAUSIBLE.get(name, ANYTHING) | WILD for name in names}
    known = st.fixed_dictionaries({}, optional=plausible) | st.fixed_dictionaries({}, optional=wild)
    unknown = st.dictionaries(TEXT.filter(lambda key: key not in names), ANYTHING, max_size=2)
    return st.builds(lambda a, b: {**b, **a}, known, unknown)


_PARAMETERS: dict[str, list[str]] = {}


def _parameters(server: StdioServer) -> dict[str, list[str]]:
    if not _PARAMETERS:
        tools = server.run(server.client.list_tools).tools
        _PARAMETERS.update({tool.name: list(tool.input_schema.get("properties", {})) for tool in tools})
    return _PARAMETERS


def _check(server: StdioServer, tool: str, arguments: dict[str, Any], tally: str = "") -> None:
    tally = tally or tool
    RAN[tally] += 1
    result = server.call(tool, arguments, timeout=CALL_DEADLINE)
    text = text_of(result)
    if result.is_error:
        assert text.startswith(f"Error executing tool {tool}: "), f"a crash, or no reason given: {text[:300]!r}"
        assert len(text) <= MAX_ERROR_CHARS, f"an error of {len(text)} characters: {text[:300]!r}"
    else:
        assert result.structured_content is not None and text.strip(), text[:300]
        OUTPUTS[tool].model_validate(result.structured_content)
        ANSWERED[tally] += 1


@pytest.mark.parametrize("tool", list(EXAMPLES))
def test_any_arguments_to_any_tool_give_an_error_result_or_a_valid_answer_in_time(
    tool: str, server: StdioServer
) -> None:
    assert set(_parameters(server)) == set(EXAMPLES), "a tool was added or renamed: give it a fuzz budget"

    @settings(
        max_examples=EXAMPLES[tool] * SCALE,
        deadline=None,
        derandomize=SCALE == 1,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @given(arguments=_arguments(tool, server))
    def fuzz(arguments: dict[str, Any]) -> None:
        _check(server, tool, arguments)

    fuzz()
    assert RAN[tool] >= EXAMPLES[tool] * SCALE
    assert ANSWERED[tool] > 0, "every example was refused: the fuzzing never reached the upstream"
    server.assert_nothing_leaked()


def test_random_bytes_as_ocr_sources_give_an_error_result_or_a_valid_answer_in_time(
    server: StdioServer, workdir: Path
) -> None:
    @settings(
        max_examples=SOURCE_EXAMPLES * SCALE,
        deadline=None,
        derandomize=SCALE == 1,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(source=_sources(workdir), mode=st.sampled_from(["markdown", "text"]))
    def fuzz(source: str, mode: str) -> None:
        _check(server, "ocr", {"source": source, "mode": mode}, tally="ocr sources")

    fuzz()
    assert RAN["ocr sources"] >= SOURCE_EXAMPLES * SCALE
    assert ANSWERED["ocr sources"] > 0, "no random source was ever read as an image: the decoders went untested"
    server.assert_nothing_leaked()


def test_after_the_fuzzing_the_server_is_alive_answers_and_logged_no_crash(server: StdioServer) -> None:
    result = server.call("chat", {"prompt": "still there?"})
    assert text_of(result) == "fuzzed answer" and server.alive()
    stderr = server.stderr()
    assert "raised an unexpected exception" not in stderr and "Traceback" not in stderr
    print(f"\nfuzz: calls per tool {dict(RAN)}, of which answered {dict(ANSWERED)}")
