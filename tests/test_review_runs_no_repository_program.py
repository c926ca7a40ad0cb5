"""`review` runs no program that the repository under review names, whatever its drivers are called and wherever
its config says so: every program-naming key of git's config documentation, every hook, filter, diff and merge
drivers under hostile names (`x=y`, quotes, dots, case, unicode) in .git/config, config.worktree and included
files, and a partial clone whose promisor remote is a program. Each program would create a marker file; the review
runs through the tool's own path (an MCP client, the fake upstream), and then plain git shows the traps are live."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from mcp_server.review import git as review_git
from tests.conftest import connect, make_settings
from tests.fake.agent import Script
from tests.fake_upstream import FakeUpstream
from tests.gitplant import plant, promisor, ran
from tests.gitrepos import git, make_repo

pytestmark = pytest.mark.anyio


async def _review(fake: FakeUpstream, repo: Path, **arguments: Any) -> Any:
    fake.agent = Script([], final="Nothing to report.")
    async with connect(make_settings(fake)) as client:
        with anyio.fail_after(60):
            return await client.call_tool("review", {"path": str(repo), **arguments})


def _stir(repo: Path, assigned: dict[str, int]) -> None:
    """Every planted file changed or touched after the index was written, and the index older than all of them
    (racily clean): git would have to read each through its filter to compare it."""
    for number in range(len(assigned)):
        path = repo / f"n{number}.py"
        if number % 2:
            path.write_text(f"N{number} = {number + 1}\n")
        else:
            os.utime(path)
    past = time.time() - 3600
    os.utime(repo / ".git" / "index", (past, past))


@pytest.mark.parametrize("base", [None, "HEAD~1..HEAD", "HEAD~1"])
async def test_no_program_the_repository_names_runs_whatever_its_drivers_are_called(
    deepseek: FakeUpstream, tmp_path: Path, base: str | None
) -> None:
    repo = make_repo(tmp_path)
    markers = tmp_path / "markers"
    assigned = plant(repo, markers)
    _stir(repo, assigned)
    result = await _review(deepseek, repo, **({"base": base} if base else {}))
    assert ran(markers) == [], "a program named by the repository's config ran"
    assert not result.is_error, result.content
    sent = b"".join(r.body for r in deepseek.chat_requests())
    assert b"n1.py" in sent  # the planted files were reviewed, their text read as it is
    # The traps are live: plain git runs the filter or diff driver of every name, and the fsmonitor (a file at a
    # time: a process filter that does not speak the protocol stops git at the first file).
    for number in range(len(assigned)):
        with contextlib.suppress(subprocess.CalledProcessError):
            git(repo, "diff", "HEAD", "--", f"n{number}.py")
    live = ran(markers)
    assert [name for name, n in assigned.items() if not any(m.endswith(f"-{n}") for m in live)] == []
    assert any("fsmonitor" in m for m in live)


async def test_a_partial_clone_never_fetches_a_missing_object_through_its_promisor_remote(
    deepseek: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As a git that does not know GIT_NO_LAZY_FETCH would run (before 2.39.4 and 2.44): only the transports' wall.
    monkeypatch.delitem(review_git.child_env.__globals__["_ENV"], "GIT_NO_LAZY_FETCH")
    repo = make_repo(tmp_path)
    markers = tmp_path / "markers"
    markers.mkdir()
    promisor(repo, markers)
    await _review(deepseek, repo, base="HEAD~1..HEAD")  # may fail (the object is missing): it must not fetch
    assert ran(markers) == [], "the promisor remote ran a program"
    blob = git(repo, "rev-parse", "HEAD:src/config.py").strip()
    with contextlib.suppress(subprocess.CalledProcessError):
        git(repo, "cat-file", "-p", blob)
    assert {"promisor-ext", "promisor-uploadpack"} & set(ran(markers))  # plain git runs a promisor's program
