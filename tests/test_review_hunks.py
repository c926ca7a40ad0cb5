"""`review` sends hunks, not files: the reviewer and each check see the changed lines in the function around them and
read more through the functions, so a one-line change in a long file costs a little of it, not all of it per request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import connect, make_settings
from tests.fake.agent import Call, Script, Turn
from tests.fake.review import Checker
from tests.fake_upstream import FakeUpstream
from tests.gitrepos import git, write

pytestmark = pytest.mark.anyio

FUNCTIONS = 500  # of six lines each: a 3,000-line module
CHANGED = 250


def _module(sign: str = "+") -> str:
    def one(n: int) -> str:
        step = f"x {sign} {n}" if n == CHANGED else f"x + {n}"
        doc = f"Step {n} of the pipeline: add its offset to the running value and pass it on to the next."
        return f'def fn_{n}(x: int) -> int:\n    """{doc}"""\n    y = {step}\n    return y\n\n\n'

    return "".join(one(n) for n in range(FUNCTIONS))


def _line(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.split("\n"), start=1) if needle in line)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write(repo, {"src/pipeline.py": _module(), "src/main.py": "from .pipeline import fn_250\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    write(repo, {"src/pipeline.py": _module("-")})
    return repo


def _finding(line: int, severity: str, title: str) -> Call:
    args = {"path": "src/pipeline.py", "line": line, "severity": severity, "title": title, "detail": "d"}
    return Call("report_finding", args)


async def test_a_one_line_change_in_a_3000_line_file_costs_under_twice_the_file_and_the_findings_are_kept(
    deepseek: FakeUpstream, repo: Path
) -> None:
    text = _module("-")
    changed = _line(text, "y = x - 250")
    header = changed - 2
    findings = [
        _finding(changed, "high", "Sign flipped"),
        _finding(changed + 1, "medium", "Return unchanged"),
        _finding(header, "low", "Signature"),
        _finding(changed - 1, "low", "Docstring stale"),
    ]
    deepseek.agent = Script([Turn(findings)], final="One sign flipped.")
    reads = [Call("grep", {"pattern": "fn_250", "path": "src"})]
    deepseek.checker = Checker({"Docstring stale": (False, "It is still right.")}, reads={"Sign flipped": reads})
    async with connect(make_settings(deepseek)) as client:
        with anyio.fail_after(30):
            result = await client.call_tool("review", {"path": str(repo)})
    assert not result.is_error, result.content
    out: Any = result.structured_content
    sent = sum(len(r.body) for r in deepseek.chat_requests())
    size = len(text.encode())
    assert size > 60_000 and len(text.split("\n")) > 3000  # a long module, as attrs' _make.py
    assert sent < 2 * size, f"{sent:,} bytes sent for a {size:,}-byte file ({sent / size:.1f}x)"
    kept = [(f["title"], f["line"], f["quote"], f["in_change"], f["check"]) for f in out["findings"]]
    assert kept == [
        ("Sign flipped", changed, "    y = x - 250", True, "confirmed"),
        ("Return unchanged", changed + 1, "    return y", False, "confirmed"),
        ("Signature", header, "def fn_250(x: int) -> int:", False, "confirmed"),
    ]
    assert [(r["title"], r["reason"]) for r in out["refuted"]] == [("Docstring stale", "It is still right.")]
    assert sorted(deepseek.checker.checked) == ["Docstring stale", "Return unchanged", "Sign flipped", "Signature"]


async def test_the_reviewer_sees_the_changed_line_in_its_function_numbered_as_after_the_change(
    deepseek: FakeUpstream, repo: Path
) -> None:
    deepseek.agent = Script([], final="Fine.")
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("review", {"path": str(repo)})
    assert not result.is_error, result.content
    block = deepseek.chat_requests()[0].json["messages"][1]["content"]
    text = _module("-")
    changed = _line(text, "y = x - 250")
    assert f"--- src/pipeline.py (modified; {len(text.split(chr(10))) - 1} lines after the change)" in block
    assert f"{changed - 2}   def fn_250(x: int) -> int:\n" in block
    assert f"     -     y = x + 250\n{changed} +     y = x - 250\n" in block
    assert "def fn_240(" not in block and len(block) < 4000


async def test_a_check_reads_what_it_asks_for_through_the_functions(deepseek: FakeUpstream, repo: Path) -> None:
    changed = _line(_module("-"), "y = x - 250")
    deepseek.agent = Script([Turn([_finding(changed, "high", "Sign flipped")])], final="One sign flipped.")
    reads = [Call("read_file", {"path": "src/main.py"})]
    deepseek.checker = Checker({"Sign flipped": (True, "main imports it.")}, reads={"Sign flipped": reads})
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("review", {"path": str(repo)})
    out: Any = result.structured_content
    assert [f["check"] for f in out["findings"]] == ["main imports it."]
    last = deepseek.chat_requests()[-1].json["messages"]
    assert [m["role"] for m in last] == ["system", "user", "assistant", "tool"]
    assert last[-1]["content"].startswith("src/main.py: lines 1-1 of 1\n1\tfrom .pipeline import fn_250")
    assert "+     y = x - 250" in last[1]["content"]  # the finding's lines with the change's marks
