"""Round 3's attack on the walls about what may be read and sent, and what may be written or run, through a real MCP
client against the fake upstream: a hostile repository, a prompt-injected file, a model that follows it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import connect, make_settings
from tests.fake.agent import Script
from tests.fake_upstream import FakeUpstream
from tests.gitrepos import git, write

pytestmark = pytest.mark.anyio
COMPANY = "COMPANY-APP-ONLY-71c3"


def _sent(fake: FakeUpstream) -> bytes:
    return b"".join(r.body for r in fake.chat_requests())


async def _call(fake: FakeUpstream, tool: str, arguments: dict[str, Any], **env: str) -> Any:
    if fake.agent is None:
        fake.agent = Script([], final="Nothing to report.")
    async with connect(make_settings(fake, env=env)) as client:
        with anyio.fail_after(60):
            return await client.call_tool(tool, arguments)


def _repo(root: Path, name: str, files: dict[str, str]) -> Path:
    repo = root / name
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    write(repo, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    return repo


@pytest.mark.parametrize("how", ["commondir", "a symlinked ref", "a symlinked refs folder"])
async def test_review_refuses_a_git_folder_whose_refs_are_another_repositorys(
    deepseek: FakeUpstream, tmp_path: Path, how: str
) -> None:
    company = _repo(tmp_path, "company-app", {"algo.py": f"SOURCE = '{COMPANY}'\n"})
    folder = tmp_path / "downloads" / "innocent"
    folder.mkdir(parents=True)
    git(folder, "init", "-q", "-b", "main")
    own = folder / ".git"
    if how == "commondir":  # git honours it in any git folder: refs and objects are the company's
        (own / "commondir").write_text(f"{company / '.git'}\n")
    else:  # HEAD becomes the company's commit; its objects borrowed as a `clone --reference` would
        (own / "objects/info/alternates").write_text(f"{company / '.git/objects'}\n")
        if how == "a symlinked ref":
            (own / "refs/heads/main").symlink_to(company / ".git/refs/heads/main")
        else:
            os.rename(own / "refs", own / "refs.old")
            (own / "refs").symlink_to(company / ".git/refs")
    write(folder, {"README.md": "# hello\n"})
    result = await _call(deepseek, "review", {"path": str(folder)})
    assert COMPANY.encode() not in _sent(deepseek), "another repository's files went upstream"
    assert result.is_error and "not this folder's own" in result.content[0].text
