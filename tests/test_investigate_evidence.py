"""`investigate`'s evidence through the in-memory client: a citation is verified only when its lines exist, the model
was shown them, and they hold the code its claim names; every citation form models write is found; `audit` has
each claim re-checked by an independent call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import connect, make_settings
from tests.evidence_project import PATH, line_of, make_evidence_project
from tests.fake.agent import Call, Script, Turn
from tests.fake.review import Checker
from tests.fake_upstream import FakeUpstream

pytestmark = pytest.mark.anyio
HAS = line_of("def has")  # 51
UNRELATED = 100  # a line of evolve(): it exists, and says nothing of has()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_evidence_project(tmp_path.resolve())


async def investigate(deepseek: FakeUpstream, project: Path, reads: list[Call], answer: str, **more: Any) -> Any:
    deepseek.agent = Script([Turn(reads)], final=answer)
    async with connect(make_settings(deepseek)) as client:
        with anyio.fail_after(30):
            arguments = {"question": "where is has?", "paths": [str(project)], **more}
            result = await client.call_tool("investigate", arguments)
    assert not result.is_error, result.content
    return result.structured_content


def _evidence(out: Any) -> list[tuple[str, int, int, bool, str]]:
    return [(e["path"], e["start_line"], e["end_line"], e["verified"], e.get("check")) for e in out["evidence"]]


async def test_a_citation_of_the_lines_that_define_what_the_claim_names_is_verified(
    deepseek: FakeUpstream, project: Path
) -> None:
    reads = [Call("grep", {"pattern": "def has"}), Call("read_file", {"path": PATH, "start_line": HAS})]
    out = await investigate(deepseek, project, reads, f"`has()` is defined at {PATH}:{HAS}-{HAS + 3}.")
    assert _evidence(out) == [(PATH, HAS, HAS + 3, True, "holds")]
    assert out["evidence"][0]["quote"].startswith("def has(cls):\n") and out["notices"] == []


async def test_an_existing_line_that_is_about_something_else_is_not_verified(
    deepseek: FakeUpstream, project: Path
) -> None:
    out = await investigate(
        deepseek, project, [Call("read_file", {"path": PATH})], f"`has()` is defined at {PATH}:{UNRELATED}."
    )
    assert _evidence(out) == [(PATH, UNRELATED, UNRELATED, False, "names missing: has")]
    assert out["evidence"][0]["quote"] == "        if not a.init:"
    assert [n for n in out["notices"] if f"{PATH}:{UNRELATED} (names missing: has not in or near" in n]


async def test_a_line_the_model_was_never_shown_is_not_verified(deepseek: FakeUpstream, project: Path) -> None:
    guard = line_of("    return False")  # inside has(): its name is on the block's header
    answer = f"`has()` returns False at the end, {PATH}:{guard}. `has()` is defined at {PATH}:{HAS}."
    out = await investigate(deepseek, project, [Call("grep", {"pattern": "def has"})], answer)
    assert _evidence(out) == [(PATH, guard, guard, False, "not read in this run"), (PATH, HAS, HAS, True, "holds")]
    assert [n for n in out["notices"] if f"lines {guard} were never shown to the model" in n]


FORMS = [
    ("{path}:{a}", [(0, 0)]),
    ("{path}:{a}-{b}", [(0, 2)]),
    ("{path}:{a}\u2013{b}", [(0, 2)]),  # en dash
    ("{path}:{a}\u2014{b}", [(0, 2)]),  # em dash
    ("{path}:{a},{c}", [(0, 0), (8, 8)]),  # two citations
    ("{path}#L{a}", [(0, 0)]),
    ("{path}#L{a}-L{b}", [(0, 2)]),
    ("[the definition]({path}#L{a}-L{b})", [(0, 2)]),
    ("[{path}:{a}]({path})", [(0, 0)]),
    ("`{path}:{a}`", [(0, 0)]),
    ("{root}/{path}:{a}", [(0, 0)]),  # absolute, inside the folder: shown relative
    ("file://{root}/{path}#L{a}", [(0, 0)]),
]


@pytest.mark.parametrize(("form", "spans"), FORMS, ids=[f for f, _ in FORMS])
async def test_each_citation_form_models_write_is_found_and_checked(
    deepseek: FakeUpstream, project: Path, form: str, spans: list[tuple[int, int]]
) -> None:
    def cite(first: int) -> str:
        return form.format(path=PATH, root=project, a=first, b=first + 2, c=first + 8)

    answer = f"`has()` is defined at {cite(HAS)}. `has()` is also at {cite(UNRELATED)}."
    out = await investigate(deepseek, project, [Call("read_file", {"path": PATH})], answer)
    right = [(PATH, HAS + a, HAS + b, True, "holds") for a, b in spans]
    wrong = [(PATH, UNRELATED + a, UNRELATED + b, False, "names missing: has") for a, b in spans]
    assert _evidence(out) == right + wrong


async def test_a_claim_that_names_no_code_is_checked_by_its_lines_and_what_was_read_and_says_so(
    deepseek: FakeUpstream, project: Path
) -> None:
    answer = f"The guard returns early at {PATH}:{HAS + 9}; see also {PATH}:900."
    out = await investigate(deepseek, project, [Call("read_file", {"path": PATH})], answer)
    assert _evidence(out) == [
        (PATH, HAS + 9, HAS + 9, True, "holds; names no code"),
        (PATH, 900, 900, False, "no such lines"),
    ]


async def test_audit_re_checks_each_claim_marks_the_refuted_one_and_counts_its_cost(
    deepseek: FakeUpstream, project: Path
) -> None:
    wrong = f"`has()` raises TypeError for an instance ({PATH}:{HAS})"  # the claim is its sentence
    answer = f"`has()` is defined at {PATH}:{HAS}-{HAS + 2}. {wrong}."
    deepseek.checker = Checker({wrong: (False, "The lines only define has; nothing there raises.")})
    out = await investigate(deepseek, project, [Call("read_file", {"path": PATH})], answer, audit=True)
    assert _evidence(out) == [
        (PATH, HAS, HAS + 2, True, "holds; the audit agrees"),
        (PATH, HAS, HAS, False, "refuted by the audit: The lines only define has; nothing there raises."),
    ]
    assert [n for n in out["notices"] if n.startswith("The audit checked 2 claims and refuted 1:") and PATH in n]
    audits = [r.json for r in deepseek.chat_requests() if r.json["tools"][-1]["function"]["name"] == "verdict"]
    assert len(audits) == 2 and all([t["function"]["name"] for t in a["tools"]] == ["verdict"] for a in audits)
    asked = audits[0]["messages"][1]["content"]
    assert asked.startswith(f"Claim at {PATH}:") and "def asdict" not in asked  # the claim and its lines only
    billed = sum(u["prompt_tokens"] for u in deepseek.agent.usages)  # type: ignore[union-attr]
    assert out["usage"]["prompt_tokens"] == billed and out["cost"]["usd"] > 0


async def test_without_audit_no_claim_is_sent_for_a_second_look(deepseek: FakeUpstream, project: Path) -> None:
    out = await investigate(deepseek, project, [Call("read_file", {"path": PATH})], f"`has` is at {PATH}:{HAS}.")
    assert out["evidence"][0]["check"] == "holds" and len(deepseek.chat_requests()) == 2


async def test_progress_is_one_notification_per_step_and_ends_at_the_total_that_ran(
    deepseek: FakeUpstream, project: Path
) -> None:
    turns = [
        Turn([Call("grep", {"pattern": "def has"})]),
        Turn([Call("read_file", {"path": PATH, "start_line": HAS}), Call("list_dir", {"path": "src"})]),
    ]
    deepseek.agent = Script(turns, final=f"`has` is at {PATH}:{HAS}.")
    events: list[tuple[float, float | None, str]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        if "waiting for the model" not in (message or ""):  # a heartbeat, should a turn take seconds on a busy machine
            events.append((value, total, message or ""))

    async with connect(make_settings(deepseek)) as client:
        with anyio.fail_after(30):
            result = await client.call_tool(
                "investigate", {"question": "q", "paths": [str(project)]}, progress_callback=on_progress
            )
    assert not result.is_error
    assert events == [
        (1, 17, "investigate: step 1: grep 'def has' — 1 match"),
        (2, 17, f"investigate: step 2: read_file '{PATH}' — lines {HAS}-121 of 121; list_dir 'src' — 1 entry"),
        (3, 3, "investigate: answered after 3 function calls in 3 turns; 1 of 1 citations verified"),
    ]


def _text(result: Any) -> str:
    return "\n".join(getattr(b, "text", "") for b in result.content)


async def test_a_server_started_in_the_root_folder_with_no_paths_reads_nothing(
    deepseek: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir("/")
    deepseek.agent = Script([Turn([Call("read_file", {"path": "etc/passwd"})])], final="Read it.")
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("investigate", {"question": "what is here?"})
    assert result.is_error and deepseek.chat_requests() == []
    assert "the server's working directory, /, is the top of the file system" in _text(result)
    assert "pass `paths`" in _text(result)


async def test_the_home_folder_itself_is_not_explored_unasked(
    deepseek: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    (home / "notes").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(home)
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("investigate", {"question": "what is here?"})
    assert result.is_error and "is the home folder itself, not a project folder" in _text(result)
    assert deepseek.chat_requests() == []


async def test_without_paths_the_folders_the_client_shares_as_roots_are_investigated(
    deepseek: FakeUpstream, project: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    from mcp.types import ListRootsResult, Root

    uri = project.as_uri()

    async def roots(_: Any) -> ListRootsResult:
        return ListRootsResult(roots=[Root(uri=uri, name="attrs")])

    monkeypatch.chdir("/")
    deepseek.agent = Script([Turn([Call("list_dir", {"path": ""})])], final="There is src/.")
    async with connect(make_settings(deepseek), mode, list_roots_callback=roots) as client:
        result = await client.call_tool("investigate", {"question": "what is here?"})
    assert not result.is_error, _text(result)
    listing = next(m for m in deepseek.chat_requests()[-1].json["messages"] if m["role"] == "tool")["content"]
    assert listing.splitlines()[1:] == ["src/"] and "etc/" not in json.dumps(result.structured_content)
