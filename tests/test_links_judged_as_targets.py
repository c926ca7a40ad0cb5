"""A symlink inside a folder is judged under both its names: its own, and its target's exactly as the same walk would
judge the target (a folder of secrets, .gitignore, `.git/`, the paths given). Each case leaked before: the walk
judged a link's target only by its place and its file name. Asserted on what the fake upstream received, through
`files` and `investigate` (its read_file, and its evidence)."""

from __future__ import annotations

import os
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

PASSWORD = "Xk9v2LmQp7-LINKED-PASSWORD"
IGNORED = "IGNORED-THROUGH-A-LINK-41c2"
GIT_CONFIG = "GITCONFIG-THROUGH-A-LINK-7d2e"
ELSEWHERE = "OUTSIDE-THE-PATHS-GIVEN-9f1b"
MARKERS = (PASSWORD, IGNORED, GIT_CONFIG)
LINKS = {  # the link, its target, why the target is not read
    "docs/setup.md": ("../secrets/db_password", "secrets/ is a folder of secrets"),
    "docs/notes.md": ("../local_settings.py", "which is gitignored"),
    "docs/x.md": ("../.git/config", ".git/ is a vendored, generated or tool folder"),
}


def _project(root: Path) -> Path:
    project = root / "project"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    git(project, "config", "user.name", GIT_CONFIG)
    write(
        project,
        {
            ".gitignore": "local_settings.py\n",
            "local_settings.py": f"NOTE = '{IGNORED}'\n",
            "secrets/db_password": f"{PASSWORD}\n",
            "src/app.py": f"print('{ELSEWHERE}')\n",
            "docs/guide.md": "# Guide\n",
        },
    )
    for link, (target, _) in LINKS.items():
        os.symlink(target, project / link)
    os.symlink("../src/app.py", project / "docs/app_link.md")  # a link the walk would follow: its target is sent
    return project


def _sent(fake: FakeUpstream) -> bytes:
    return b"".join(r.body for r in fake.chat_requests())


async def _call(fake: FakeUpstream, tool: str, arguments: dict[str, Any]) -> Any:
    async with connect(make_settings(fake)) as client:
        with anyio.fail_after(30):
            return await client.call_tool(tool, arguments)


async def test_files_skips_a_link_whose_target_the_walk_would_skip_and_says_why(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    project = _project(tmp_path)
    result = await _call(deepseek, "chat", {"prompt": "Summarise.", "files": [str(project)]})
    assert not result.is_error, result.content
    sent = _sent(deepseek)
    assert [m for m in MARKERS if m.encode() in sent] == []
    out = result.structured_content
    skipped = {s["path"]: s["reason"] for s in out["skipped"]}
    for link, (_, why) in LINKS.items():
        assert why in skipped[link], (link, skipped[link])
    assert "docs/app_link.md" in [f["path"] for f in out["files"]] and ELSEWHERE.encode() in sent


async def test_investigate_neither_reads_nor_quotes_a_link_to_a_file_it_would_refuse(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    project = _project(tmp_path)
    reads = [Call("read_file", {"path": link}) for link in LINKS]
    cited = ", ".join(f"{link}:1" for link in LINKS)
    deepseek.agent = Script([Turn(reads)], final=f"The settings are at {cited}.")
    result = await _call(deepseek, "investigate", {"question": "Where are the settings?", "paths": [str(project)]})
    assert not result.is_error, result.content
    assert [m for m in MARKERS if m.encode() in _sent(deepseek)] == []
    out = result.structured_content
    assert [m for m in MARKERS if m in str(out)] == [], "quoted back as evidence"
    assert all(step["outcome"].startswith("refused") for step in out["steps"])
    assert [e["verified"] for e in out["evidence"]] == [False] * len(LINKS)


async def test_investigate_refuses_a_link_to_a_file_outside_the_paths_given(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    project = _project(tmp_path)
    deepseek.agent = Script([Turn([Call("read_file", {"path": "docs/app_link.md"})])], final="See docs/app_link.md:1.")
    paths = [str(project / "docs"), str(project / ".gitignore")]  # src/ is not among them
    result = await _call(deepseek, "investigate", {"question": "What does the app print?", "paths": paths})
    assert not result.is_error, result.content
    assert ELSEWHERE.encode() not in _sent(deepseek)
    out = result.structured_content
    assert "outside the paths given" in out["steps"][0]["outcome"] and out["evidence"][0]["verified"] is False


async def test_reviews_reviewer_neither_reads_nor_anchors_a_finding_on_a_link_it_would_refuse(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    project = _project(tmp_path)
    reads = [Call("read_file", {"path": link}) for link in LINKS]
    finding = {"path": "docs/setup.md", "line": 1, "severity": "high", "title": "Password", "detail": "In a doc."}
    deepseek.agent = Script([Turn(reads), Turn([Call("report_finding", finding)])], final="Done.")
    deepseek.checker = Checker()
    result = await _call(deepseek, "review", {"path": str(project)})
    assert not result.is_error, result.content
    assert [m for m in MARKERS if m.encode() in _sent(deepseek)] == []
    out = result.structured_content
    assert [m for m in MARKERS if m in str(out)] == []
    assert all(step["outcome"].startswith("refused") for step in out["steps"][: len(LINKS)])
    assert out["findings"] == [] and out["dropped"][0]["path"] == "docs/setup.md"
