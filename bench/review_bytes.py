"""What one review sends: a one-line change in a long file, four findings, through the tool against the fake upstream.

Run by bench/review.py twice in one run, once on this checkout and once on an earlier revision's `mcp_server`
(exported by `git archive`, first on PYTHONPATH), so the two are measured side by side; on its own it prints the
figures of whichever `mcp_server` it imports, as JSON. Two changes: a synthetic 3,000-line module (the one in
tests/test_review_hunks.py) and attrs' own `_make.py` as installed (3,400 lines), each with one line changed in the
middle. The scripted reviewer reads 40 lines around the change, reports four findings near it in one turn, and
sums up; the scripted checker confirms three and refutes one. Tokens are the fake's (a word is a token).
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))  # appended: an earlier revision's mcp_server on PYTHONPATH comes first

from mcp_server.core.config import Limits  # noqa: E402
from tests.conftest import DEEPSEEK_KEY, connect, make_settings  # noqa: E402
from tests.fake.agent import Call, Script, Turn  # noqa: E402
from tests.fake.review import Checker  # noqa: E402
from tests.fake_upstream import FakeUpstream  # noqa: E402
from tests.gitrepos import git, write  # noqa: E402

FINDINGS = 4


def synthetic(sign: str) -> str:
    def one(n: int) -> str:
        step = f"x {sign} {n}" if n == 250 else f"x + {n}"
        doc = f"Step {n} of the pipeline: add its offset to the running value and pass it on to the next."
        return f'def fn_{n}(x: int) -> int:\n    """{doc}"""\n    y = {step}\n    return y\n\n\n'

    return "".join(one(n) for n in range(500))


def attrs_make() -> tuple[str, str] | None:
    """attrs' _make.py as installed, and the same with one line in the middle changed (a guard inverted)."""
    spec = importlib.util.find_spec("attr")
    if spec is None or not spec.submodule_search_locations:
        return None
    text = (Path(next(iter(spec.submodule_search_locations))) / "_make.py").read_text()
    lines = text.split("\n")
    middle = next(n for n in range(len(lines) // 2, len(lines)) if lines[n].strip().startswith("if not "))
    changed = [*lines[:middle], lines[middle].replace(" not ", " ", 1), *lines[middle + 1 :]]
    return text, "\n".join(changed)


def _changed_line(before: str, after: str) -> int:
    return next(n for n, (a, b) in enumerate(zip(before.split("\n"), after.split("\n"), strict=True), 1) if a != b)


def _script(path: str, line: int) -> tuple[Script, Checker]:
    read = Call("read_file", {"path": path, "start_line": max(1, line - 20), "end_line": line + 20})
    titles = ["Inverted guard", "Caller unchecked", "Edge case", "Naming"]
    spots = [line, line + 1, max(1, line - 1), max(1, line - 2)]
    reports = [
        Call("report_finding", {"path": path, "line": at, "severity": "medium", "title": t, "detail": "d"})
        for t, at in zip(titles, spots, strict=True)
    ]
    return Script([Turn([read]), Turn(reports)], final="One guard inverted."), Checker({"Naming": (False, "Taste.")})


async def measure(name: str, path: str, before: str, after: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch, FakeUpstream("deepseek", DEEPSEEK_KEY) as fake:
        repo = Path(scratch) / "repo"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        write(repo, {path: before})
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "first")
        write(repo, {path: after})
        fake.agent, fake.checker = _script(path, _changed_line(before, after))
        settings = dataclasses.replace(make_settings(fake), limits=Limits())
        async with connect(settings) as client:
            result = await client.call_tool("review", {"path": str(repo)})
        out: Any = result.structured_content
        assert not result.is_error and out is not None, result.content
        requests = fake.chat_requests()
        usages = fake.agent.usages
        return {
            "case": name,
            "file_bytes": len(after.encode()),
            "file_lines": after.count("\n") + 1,
            "requests": len(requests),
            "bytes": sum(len(r.body) for r in requests),
            "prompt_tokens": sum(u["prompt_tokens"] for u in usages),
            "cache_hit_tokens": sum(u["prompt_cache_hit_tokens"] for u in usages),
            "findings": len(out["findings"]),
            "refuted": len(out["refuted"]),
            "dropped": len(out["dropped"]),
        }


async def main() -> None:
    cases = [("3,000-line module", "src/pipeline.py", synthetic("+"), synthetic("-"))]
    made = attrs_make()
    if made is not None:
        cases.append(("attrs _make.py", "src/attr/_make.py", *made))
    print(json.dumps([await measure(*case) for case in cases]))


if __name__ == "__main__":
    asyncio.run(main())
