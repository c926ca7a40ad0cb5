"""Every reader asks the one policy about every path: `review` as `files` and `investigate` do (files named like bare
secrets, everything in a folder of secrets, hard links to the project's .env), and `review` reads only the folder's
own repository (not one a `.git` points at). Asserted on what the fake upstream received."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import connect, make_settings
from tests.fake.agent import Call, Script, Turn
from tests.fake_upstream import FakeUpstream
from tests.gitrepos import git, write

pytestmark = pytest.mark.anyio

# Bare values with no keyword around them: no content rule can tell them from text; only names can.
BARE = {  # path: the value in it
    "db_password.txt": "Xk9v2LmQp7-COMPOSE",
    "secrets/api.txt": "Qw3rTy8uIo-MOUNTED",
    "secrets/settings.py": "Zx7cVb5nMa-CODE",
    "deploy/secret/tls.crt.txt": "Lp0oKi9jUh-NESTED",
}
COMPANY = "COMPANY-APP-ONLY-5e8d"


def _sent(fake: FakeUpstream) -> bytes:
    return b"".join(r.body for r in fake.chat_requests())


async def _call(fake: FakeUpstream, tool: str, arguments: dict[str, Any]) -> Any:
    fake.agent = Script([], final="Nothing to report.")
    async with connect(make_settings(fake)) as client:
        with anyio.fail_after(30):
            return await client.call_tool(tool, arguments)


def _repo(root: Path, name: str = "repo", files: dict[str, str] | None = None) -> Path:
    repo = root / name
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write(repo, files or {"app.py": "print('hello')\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    return repo


@pytest.mark.parametrize("base", [None, "HEAD~1..HEAD"])
async def test_review_withholds_bare_secrets_and_a_folder_of_secrets_by_name(
    deepseek: FakeUpstream, tmp_path: Path, base: str | None
) -> None:
    repo = _repo(tmp_path)
    write(repo, {"app.py": "print('hello, world')\n"} | {path: f"DB = '{value}'\n" for path, value in BARE.items()})
    if base:
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "second")
    result = await _call(deepseek, "review", {"path": str(repo), **({"base": base} if base else {})})
    assert not result.is_error, result.content
    assert [value for value in BARE.values() if value.encode() in _sent(deepseek)] == []
    skipped = {s["path"]: s["reason"] for s in result.structured_content["skipped"]}
    assert set(BARE) <= set(skipped), skipped
    assert "in a folder of secrets" in skipped["secrets/settings.py"]
    assert b"hello, world" in _sent(deepseek)


async def test_files_and_investigate_skip_code_in_a_folder_of_secrets(deepseek: FakeUpstream, tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project, {"app.py": "print('hello')\n"} | {path: f"DB = '{value}'\n" for path, value in BARE.items()})
    walked = await _call(deepseek, "chat", {"prompt": "Summarise.", "files": [str(project)]})
    assert not walked.is_error, walked.content
    deepseek.agent = Script([Turn([Call("read_file", {"path": "secrets/settings.py"})])], final="Done.")
    async with connect(make_settings(deepseek)) as client:
        with anyio.fail_after(30):
            asked = await client.call_tool("investigate", {"question": "Settings?", "paths": [str(project)]})
    assert [value for value in BARE.values() if value.encode() in _sent(deepseek)] == []
    skipped = {s["path"]: s["reason"] for s in walked.structured_content["skipped"]}
    assert skipped["secrets/"] == skipped["deploy/secret/"] == "a folder of secrets"
    assert "secrets/ is skipped (a folder of secrets)" in asked.structured_content["steps"][0]["outcome"]


async def test_review_sends_no_diff_of_a_file_replaced_by_a_hard_link_to_the_projects_env(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    repo = _repo(tmp_path, files={".gitignore": ".env\n", "mail.cfg": "host = smtp.example.com\n"})
    (repo / ".env").write_text("SMTP_PASS=Hk8jG7fD6s-HARDLINK\n")
    (repo / "mail.cfg").unlink()
    os.link(repo / ".env", repo / "mail.cfg")  # the tracked file is now another name for .env
    result = await _call(deepseek, "review", {"path": str(repo)})
    assert not result.is_error, result.content
    assert b"Hk8jG7fD6s" not in _sent(deepseek), ".env went out as the diff of a hard link to it"
    skipped = {s["path"]: s["reason"] for s in result.structured_content["skipped"]}
    assert "hard link to a file named like a secret" in skipped["mail.cfg"]


async def test_files_refuses_a_hard_link_to_the_projects_env_named_directly(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    repo = _repo(tmp_path, files={".gitignore": ".env\n", "app.py": "print('hello')\n"})
    (repo / "config").mkdir()
    (repo / ".env").write_text("SMTP_PASS=Hk8jG7fD6s-NAMED\n")
    os.link(repo / ".env", repo / "config" / "mail_settings.txt")
    result = await _call(deepseek, "chat", {"prompt": "Summarise.", "files": [str(repo / "config/mail_settings.txt")]})
    assert result.is_error and "hard link to a file named like a secret" in result.content[0].text
    assert deepseek.chat_requests() == []


@pytest.mark.parametrize("how", ["a .git file", "a .git symlink"])
async def test_review_refuses_a_folder_whose_git_points_at_another_folders_repository(
    deepseek: FakeUpstream, tmp_path: Path, how: str
) -> None:
    company = _repo(tmp_path, "company-app", {"terms.txt": f"{COMPANY}\n", "app.py": "print('app')\n"})
    folder = tmp_path / "downloads" / "innocent"
    folder.mkdir(parents=True)
    if how == "a .git file":
        (folder / ".git").write_text("gitdir: ../../company-app/.git\n")
    else:
        (folder / ".git").symlink_to(company / ".git")
    write(folder, {"README.md": "# hello\n"})
    result = await _call(deepseek, "review", {"path": str(folder)})
    assert result.is_error and deepseek.chat_requests() == []
    message = result.content[0].text
    assert f"points to the repository at {company / '.git'}" in message and "not this folder's own" in message
    assert COMPANY.encode() not in _sent(deepseek)


async def test_a_separate_git_folder_that_names_this_work_tree_is_reviewed(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    folder = tmp_path / "work"
    git(tmp_path, "init", "-q", "-b", "main", f"--separate-git-dir={tmp_path / 'store.git'}", str(folder))
    write(folder, {"app.py": "print('one')\n"})
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "first")
    write(folder, {"app.py": "print('two')\n"})
    refused = await _call(deepseek, "review", {"path": str(folder)})
    assert refused.is_error and "git config core.worktree" in refused.content[0].text
    git(folder, "config", "core.worktree", str(folder))  # the repository names this work tree: git's own link
    result = await _call(deepseek, "review", {"path": str(folder)})
    assert not result.is_error, result.content
    assert b"print('two')" in _sent(deepseek)


async def test_review_refuses_a_repository_whose_work_tree_is_set_elsewhere(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    company = _repo(tmp_path, "company-app", {"terms.txt": f"{COMPANY}\n"})
    folder = _repo(tmp_path, "innocent")
    git(folder, "config", "core.worktree", str(company))
    result = await _call(deepseek, "review", {"path": str(folder)})
    assert result.is_error and deepseek.chat_requests() == []
    assert f"its repository's work tree is {company}" in result.content[0].text
