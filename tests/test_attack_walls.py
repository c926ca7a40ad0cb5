"""Attacks on the walls around local files: each test is a reproducer that fails while the leak it shows is open.

Every test asserts on what the fake upstream RECEIVED (its chat requests), with a fake HOME, so no real key folder
is touched. A passing test means that wall held against that attack."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import anyio
import pytest

from mcp_server.policy import places
from tests.conftest import connect, make_settings
from tests.fake.agent import Call, Script, Turn
from tests.fake_upstream import FakeUpstream
from tests.gitrepos import git, write

pytestmark = pytest.mark.anyio

# A ~/.pgpass line: host:port:database:user:password. The password has digits, upper and lower case.
PGPASS_PASSWORD = "Sup3rS3cretPgPw"
PGPASS = f"db.internal:5432:*:app:{PGPASS_PASSWORD}\n"


def _sent(fake: FakeUpstream) -> bytes:
    return b"".join(r.body for r in fake.chat_requests())


@pytest.fixture
def fake_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME of the test's own: the policy's home-relative places (~/.ssh, ~/.pgpass ...) are looked for here."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


async def _chat_files(fake: FakeUpstream, files: list[str], env: dict[str, str] | None = None) -> Any:
    async with connect(make_settings(fake, env=env)) as client:
        with anyio.fail_after(30):
            return await client.call_tool("chat", {"prompt": "Summarise.", "files": files})


async def _review(fake: FakeUpstream, folder: Path, env: dict[str, str] | None = None, **arguments: Any) -> Any:
    async with connect(make_settings(fake, env=env)) as client:
        with anyio.fail_after(30):
            return await client.call_tool("review", {"path": str(folder), **arguments})


# --- review: git reads a repository outside DEEPSEEK_MCP_FILE_ROOTS ---------------------------------------------


async def test_review_of_a_folder_whose_git_file_points_outside_the_file_roots_sends_nothing_from_outside(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    outside = tmp_path / "outside" / "private-repo"
    outside.mkdir(parents=True)
    git(outside, "init", "-q", "-b", "main")
    write(outside, {"README.md": "# private\n"})
    git(outside, "add", "-A")
    git(outside, "commit", "-q", "-m", "first")
    write(outside, {"notes.txt": "OUTSIDE-THE-ROOTS-7f3a: the merger terms are 41 million\n"})
    git(outside, "add", "-A")
    git(outside, "commit", "-q", "-m", "second")
    roots = tmp_path / "roots"
    project = roots / "project"
    project.mkdir(parents=True)
    (project / ".git").write_text(f"gitdir: {outside / '.git'}\n")  # a worktree-style link out of the roots
    deepseek.agent = Script([], final="Nothing to report.")
    result = await _review(deepseek, project, env={"DEEPSEEK_MCP_FILE_ROOTS": str(roots)}, base="HEAD~1..HEAD")
    assert b"OUTSIDE-THE-ROOTS-7f3a" not in _sent(deepseek), "a commit of a repository outside the roots was sent"
    assert result.is_error or not deepseek.chat_requests()


# --- hard links: the identities of the secret places are gathered within a budget --------------------------------


async def test_a_hard_link_to_home_pgpass_is_refused_even_when_a_big_browser_profile_comes_first(
    deepseek: FakeUpstream, fake_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The budget of identities gathered (20,000) scaled down to 200, so the test makes 250 files instead of 21,000
    # (the real size was run too: same leak, 8 s).
    monkeypatch.setattr(places, "MAX_LINKED", 200)
    profile = fake_home / ".mozilla" / "firefox" / "abc.default" / "storage"
    profile.mkdir(parents=True)
    for n in range(250):
        (profile / f"{n}.sqlite").touch()
    (fake_home / ".pgpass").write_text(PGPASS)
    project = tmp_path / "project"
    project.mkdir()
    (project / "app.py").write_text("print('hello')\n")
    os.link(fake_home / ".pgpass", project / "db_hosts.txt")  # an innocent name for ~/.pgpass
    result = await _chat_files(deepseek, [str(project)])
    assert PGPASS_PASSWORD.encode() not in _sent(deepseek), "~/.pgpass went out through a hard link"
    assert not result.is_error


async def test_a_hard_link_to_home_pgpass_is_refused(deepseek: FakeUpstream, fake_home: Path, tmp_path: Path) -> None:
    (fake_home / ".pgpass").write_text(PGPASS)
    project = tmp_path / "project"
    project.mkdir()
    (project / "app.py").write_text("print('hello')\n")
    os.link(fake_home / ".pgpass", project / "db_hosts.txt")
    result = await _chat_files(deepseek, [str(project)])
    assert PGPASS_PASSWORD.encode() not in _sent(deepseek)
    assert not result.is_error and "db_hosts.txt" in str(result.structured_content)


async def test_a_hard_link_to_the_projects_own_env_file_is_refused_like_a_symlink_to_it(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "app.py").write_text("print('hello')\n")
    (project / ".env").write_text('SMTP_PASSWORD="correct horse battery staple"\n')
    os.symlink(project / ".env", project / "env_link.txt")  # refused: a symlink to a secret
    os.link(project / ".env", project / "mail_settings.txt")  # the same file by another name
    result = await _chat_files(deepseek, [str(project)])
    assert not result.is_error
    assert b"correct horse battery staple" not in _sent(deepseek), ".env went out through a hard link"


# --- review: a secret place by path (not by folder name) in a dotfiles repository --------------------------------


async def test_review_of_a_dotfiles_repository_sends_no_diff_of_a_file_under_a_home_secret_place(
    deepseek: FakeUpstream, fake_home: Path
) -> None:
    git(fake_home, "init", "-q", "-b", "main")  # a home directory kept in git, as dotfiles users do
    place = ".config/gcloud/configurations/config_default"
    write(fake_home, {".bashrc": "alias ll='ls -l'\n", place: "[core]\naccount = me@corp.example\n"})
    git(fake_home, "add", "-A")
    git(fake_home, "commit", "-q", "-m", "dotfiles")
    write(fake_home, {place: "[core]\naccount = me@corp.example\nproject = PLACE-MARKER-gcloud-4e1d\n"})
    write(fake_home, {".bashrc": "alias ll='ls -la'\n"})
    deepseek.agent = Script([], final="Nothing to report.")
    result = await _review(deepseek, fake_home)
    assert not result.is_error, result.content
    assert b"PLACE-MARKER-gcloud-4e1d" not in _sent(deepseek), "a diff under ~/.config/gcloud was sent"


# --- the content scanner: secrets a real user has, under names the name rules do not know ------------------------

MISSED = {  # name: (content, the secret looked for in what was sent)
    # PGPASSFILE=pgpass is the usual name in containers; the format has no keyword.
    "pgpass": (PGPASS, PGPASS_PASSWORD),
    # A generated passphrase of letters only (diceware, 1Password's "memorable" passwords).
    "config/app.ini": ("[database]\npassword = correcthorsebatterystaple\n", "correcthorsebatterystaple"),
    "deploy/values.yaml": ('db:\n  password: "correct horse battery staple"\n', "correct horse battery staple"),
    "settings.toml": (
        'DATABASE_URL = "postgres://app:correcthorsebattery@db.internal:5432/app"\n',
        "app:correcthorsebattery@",
    ),
    # Docker Compose's documented secrets pattern: `secrets: db_password: file: ./db_password.txt`, the bare value.
    "secrets/db_password.txt": ("Xk9v2LmQp7-compose\n", "Xk9v2LmQp7-compose"),
    "scripts/backup.sh": ("#!/bin/sh\nmysqldump -u root -pXk9v2LmQp7 app > dump.sql\n", "Xk9v2LmQp7"),
}


@pytest.mark.parametrize("name", list(MISSED))
async def test_a_users_real_secret_under_an_innocent_name_is_not_sent(
    deepseek: FakeUpstream, tmp_path: Path, name: str
) -> None:
    project = tmp_path / "project"
    content, secret = MISSED[name]
    write(project, {"app.py": "print('hello')\n", name: content})
    result = await _chat_files(deepseek, [str(project)])
    assert not result.is_error
    assert secret.encode() not in _sent(deepseek), f"{name} went out whole"


# --- the content scanner's false positives: ordinary configuration hidden from the model -------------------------

ORDINARY = {
    # Bitnami charts' values.yaml: the NAME of a Kubernetes Secret to use, not a secret.
    "charts/db/values.yaml": "auth:\n  existingSecret: postgres-creds-v2\n  username: app\n",
    # Django's PASSWORD_HASHERS choice, as a settings file writes it.
    "config/security.yaml": "password_hasher: argon2id\nsession_ttl: 3600\n",
    # A reference to where a secret lives (Google Secret Manager), not its value.
    "deploy/secrets-ref.yaml": "jwt_secret_ref: projects/p1/secrets/jwt/versions/3\n",
}


@pytest.mark.parametrize("name", list(ORDINARY))
async def test_ordinary_configuration_that_only_names_a_secret_is_sent(
    deepseek: FakeUpstream, tmp_path: Path, name: str
) -> None:
    project = tmp_path / "project"
    write(project, {"app.py": "print('hello')\n", name: ORDINARY[name]})
    result = await _chat_files(deepseek, [str(project)])
    assert not result.is_error
    needle = {"charts": "postgres-creds-v2", "config": "argon2id", "deploy": "projects/p1/secrets"}[name.split("/")[0]]
    assert needle.encode() in _sent(deepseek), f"{name} was withheld as a secret"


# --- investigate: the model reads and cites a hard link to the project's .env ------------------------------------


async def test_investigate_neither_reads_nor_quotes_a_hard_link_to_the_env_file(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    write(project, {"app.py": "print('hello')\n", ".env": 'SMTP_PASSWORD="correct horse battery staple"\n'})
    os.link(project / ".env", project / "mail_settings.txt")
    deepseek.agent = Script(
        [Turn([Call("read_file", {"path": ".env"}), Call("read_file", {"path": "mail_settings.txt"})])],
        final="The SMTP password is at mail_settings.txt:1.",
    )
    async with connect(make_settings(deepseek)) as client:
        with anyio.fail_after(30):
            result = await client.call_tool("investigate", {"question": "mail setup?", "paths": [str(project)]})
    assert not result.is_error, result.content
    assert b"correct horse battery staple" not in _sent(deepseek), "the .env went to the model through a hard link"
    assert "correct horse battery staple" not in str(result.structured_content), "and was quoted as evidence"


async def test_review_sends_no_diff_of_a_tracked_file_replaced_by_a_hard_link_to_home_pgpass(
    deepseek: FakeUpstream, fake_home: Path, tmp_path: Path
) -> None:
    (fake_home / ".pgpass").write_text(PGPASS)
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write(repo, {"app.py": "print('hello')\n", "db_hosts.txt": "db.internal:5432\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    (repo / "db_hosts.txt").unlink()
    os.link(fake_home / ".pgpass", repo / "db_hosts.txt")  # files and investigate refuse this file (test above)
    write(repo, {"app.py": "print('hello, world')\n"})
    deepseek.agent = Script([], final="Nothing to report.")
    result = await _review(deepseek, repo)
    assert not result.is_error, result.content
    assert PGPASS_PASSWORD.encode() not in _sent(deepseek), "~/.pgpass went out in the diff of a hard link to it"


async def test_review_sends_no_lines_of_a_private_key_whose_armour_falls_outside_the_hunk(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    body = [base64.b64encode(bytes((n * 37 + i * 11) % 256 for i in range(48))).decode() for n in range(25)]
    key = [
        "-----BEGIN RSA PRIVATE KEY-----",
        "MIIEpAIBAAKCAQEA" + body[0][16:],
        *body[1:],
        "-----END RSA PRIVATE KEY-----",
    ]
    script = "#!/bin/sh\ncat > /etc/app/deploy_key <<'KEY'\n{}\nKEY\n"
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write(repo, {"bootstrap.sh": script.format("\n".join(key))})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    key[14] = key[14][::-1]  # one line of the body changes: the hunk holds body lines only, no armour
    write(repo, {"bootstrap.sh": script.format("\n".join(key))})
    deepseek.agent = Script([], final="Nothing to report.")
    result = await _review(deepseek, repo)
    assert not result.is_error, result.content
    sent = _sent(deepseek)
    assert [line for line in key[2:-1] if line.encode() in sent] == [], "lines of the private key were sent"


async def test_review_sends_no_diff_from_a_backup_copy_of_a_key_folder(deepseek: FakeUpstream, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write(repo, {"app.py": "print('hello')\n", ".ssh.bak/config": "Host bastion\n  User ops\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    write(repo, {".ssh.bak/config": "Host bastion\n  User ops\n  HostName BACKUP-PLACE-MARKER-10.9.8.7\n"})
    files = await _chat_files(deepseek, [str(repo / ".ssh.bak" / "config")])
    assert files.is_error  # `files` refuses it: a backup of a key folder is a secret place
    deepseek.agent = Script([], final="Nothing to report.")
    result = await _review(deepseek, repo)
    assert not result.is_error, result.content
    assert b"BACKUP-PLACE-MARKER" not in _sent(deepseek), "a diff under .ssh.bak/ was sent"


async def test_review_sends_no_utf16_password_that_gitattributes_mark_as_text(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write(repo, {".gitattributes": "*.reg diff\n", "settings.reg": "Windows Registry Editor\r\n".encode("utf-16")})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    secret = 'Windows Registry Editor\r\n"DbPassword"="Xk9v2LmQp7!"\r\n'
    write(repo, {"settings.reg": secret.encode("utf-16")})  # a Windows .reg export is UTF-16
    deepseek.agent = Script([], final="Nothing to report.")
    result = await _review(deepseek, repo)
    assert not result.is_error, result.content
    spelled = "\\u0000".join("Xk9v2LmQp7").encode()  # as JSON spells the UTF-16 bytes git printed
    assert spelled not in _sent(deepseek), "a UTF-16 password went out in the diff"
