"""Real git repositories made on disk for the `review` tests: commits, staged and unstaged edits, a rename, a binary
file, a secret, and a repository whose own config names programs that must never run."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.projects import PRIVATE_KEY

GITHUB_TOKEN = "ghp_" + "Q3vX9kLm2Pz8RtY6wNb4Hc1Jd5Fg7Sa0Ue2Vi"  # the scanner's GitHub pattern; split against scanners
ENV_LINE = "DATABASE_PASSWORD=hunter2-REVIEW-ENV-9b1f"

SERVICE_V1 = "".join(f"def step_{n}(x: int) -> int:\n    return x + {n}\n\n\n" for n in range(1, 8))
SERVICE_V2 = SERVICE_V1.replace("return x + 3\n", "return x - 3  # changed\n") + "def added() -> None:\n    pass\n"
_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
}


def git(repo: Path, *args: str) -> str:
    """Run git as a user would (hooks and all: these are the test's own repositories)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | _ENV
    # The test's own repository, and git from PATH as a user has it.
    done = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True)  # noqa: S603, S607
    return done.stdout


def write(repo: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def make_repo(root: Path, name: str = "repo") -> Path:
    """Two commits; then a staged edit, an unstaged edit, a staged rename, a binary file, a new `.env`, a key added
    to a source file, and an untracked module."""
    repo = root / name
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    write(repo, {"src/service.py": SERVICE_V1, "src/old_name.py": "VALUE = 1\n", "README.md": "# demo\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    write(repo, {"src/config.py": "TIMEOUT = 5\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "second")
    write(repo, {"src/service.py": SERVICE_V2, "logo.png": b"\x89PNG\r\n\x1a\n\x00\x00binary"})
    git(repo, "add", "src/service.py", "logo.png")
    git(repo, "mv", "src/old_name.py", "src/new_name.py")
    write(repo, {"src/config.py": f"TIMEOUT = 10\nTOKEN = '{GITHUB_TOKEN}'\n", ".env": f"{ENV_LINE}\n"})
    write(repo, {"src/fresh.py": "def fresh() -> str:\n    return 'new'\n"})
    return repo


def arm(repo: Path, marker: Path) -> None:
    """Make the repository's own config name programs that would create `marker`-* files if git ran them."""
    touch = f"touch {marker}"
    settings = {
        "core.fsmonitor": f"{touch}-fsmonitor; echo",
        "core.pager": f"{touch}-pager; cat",
        "core.hooksPath": str(repo / ".hooks"),
        "diff.external": f"{touch}-external",
        "diff.Evil.textconv": f"{touch}-textconv; cat",
        "diff.Evil.command": f"{touch}-diffcommand",
        "filter.Evil.clean": f"{touch}-clean; cat",
        "filter.Evil.smudge": f"{touch}-smudge; cat",
        "filter.Evil.process": f"{touch}-process",
        "filter.Evil.required": "true",
        "log.showSignature": "true",
        "gpg.program": f"{touch}-gpg",
        "core.sshCommand": f"{touch}-ssh",
    }
    for key, value in settings.items():
        git(repo, "config", key, value)
    hooks = repo / ".hooks"
    hooks.mkdir(exist_ok=True)
    for hook in ("post-index-change", "pre-commit", "post-checkout"):
        (hooks / hook).write_text(f"#!/bin/sh\n{touch}-hook-{hook}\n")
        (hooks / hook).chmod(0o755)
    write(repo, {".gitattributes": "* filter=Evil diff=Evil\n"})


def markers(marker: Path) -> list[str]:
    return sorted(p.name for p in marker.parent.glob(f"{marker.name}*"))


__all__ = ["PRIVATE_KEY", "arm", "git", "make_repo", "markers", "write"]
