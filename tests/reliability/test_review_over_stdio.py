"""`review` through the installed console script, on real git repositories made here: over stdio with the server's
working directory as the default repository, and over HTTP where `path` is required and must lie inside the file
roots. What reached the fake upstream is searched for every secret in the change, and a repository whose own config
names programs must not get them run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.fake.agent import Call, Script, Turn
from tests.fake.review import Checker
from tests.fake_upstream import FakeUpstream
from tests.gitrepos import ENV_LINE, GITHUB_TOKEN, arm, git, make_repo, markers
from tests.reliability.conftest import StdioServer, server_env, stdio_server, text_of
from tests.test_http_and_cli import ALICE, http_server

pytestmark = pytest.mark.reliability

REAL = {"path": "src/service.py", "line": 10, "severity": "high", "title": "Sign flipped", "detail": "x - 3."}
NIT = {"path": "src/service.py", "line": 2, "severity": "low", "title": "Nit", "detail": "Taste."}
GHOST = {"path": "src/ghost.py", "line": 1, "severity": "high", "title": "Ghost", "detail": "Invented."}
PAST_END = {"path": "src/fresh.py", "line": 40, "end_line": 41, "severity": "medium", "title": "Past", "detail": "-"}


@pytest.fixture(scope="module")
def repo(workdir: Path) -> Path:
    """The server's working directory is this repository's top folder."""
    made = make_repo(workdir, "repo")
    arm(made, workdir / "marker")
    return made


@pytest.fixture(scope="module")
def server(upstream: FakeUpstream, repo: Path) -> Iterator[StdioServer]:
    with stdio_server(server_env(upstream), repo) as live:
        yield live


@pytest.fixture(autouse=True)
def fresh(upstream: FakeUpstream, server: StdioServer, workdir: Path) -> Iterator[None]:
    upstream.reset()
    yield
    server.assert_nothing_leaked()
    assert markers(workdir / "marker") == [], "a program named by the repository's config ran"
    everything = "\n".join(server.wire) + server.stderr()
    assert GITHUB_TOKEN not in everything and ENV_LINE not in everything


def _script(upstream: FakeUpstream, *turns: list[dict[str, object]]) -> None:
    calls = [Turn(calls=[Call("report_finding", args) for args in turn]) for turn in turns]
    upstream.agent = Script(turns=calls, final="Flips a sign; adds a module.")
    upstream.checker = Checker({"Nit": (False, "Matter of taste.")})


def test_refuted_and_invented_findings_are_kept_out_of_the_findings(
    upstream: FakeUpstream, server: StdioServer
) -> None:
    _script(upstream, [REAL, GHOST], [NIT, PAST_END])
    result = server.call("review", {})
    assert not result.is_error, text_of(result)
    out = result.structured_content
    assert out is not None and out["base"].startswith("the working tree (staged, unstaged and untracked)")
    assert [(f["title"], f["in_change"], f["check"]) for f in out["findings"]] == [("Sign flipped", True, "confirmed")]
    assert [(r["title"], r["reason"]) for r in out["refuted"]] == [("Nit", "Matter of taste.")]
    assert sorted(d["title"] for d in out["dropped"]) == ["Ghost", "Past"]
    assert "1 finding (1 high, 0 medium, 0 low); 1 refuted" in text_of(result)


def test_a_secret_in_the_diff_never_leaves_the_machine(upstream: FakeUpstream, server: StdioServer) -> None:
    _script(upstream, [REAL])
    upstream.agent.turns.insert(0, Turn(calls=[Call("read_file", {"path": "src/config.py"})]))  # type: ignore[union-attr]
    result = server.call("review", {"focus": "security"})
    assert not result.is_error, text_of(result)
    sent = b"".join(r.body for r in upstream.requests)
    assert GITHUB_TOKEN.encode() not in sent and ENV_LINE.encode() not in sent and b"hunter2" not in sent
    assert b"src/config.py: its diff and whole text withheld: after the change it holds a GitHub token" in sent
    assert b"Focus on: security" in sent
    out = result.structured_content
    assert out is not None and {".env", "src/config.py"} <= {s["path"] for s in out["skipped"]}
    assert out["steps"][0]["outcome"].startswith("refused")


def test_a_range_is_reviewed_and_an_unknown_ref_is_a_clear_error(upstream: FakeUpstream, server: StdioServer) -> None:
    _script(upstream, [{**REAL, "path": "src/config.py", "line": 1, "title": "Timeout"}])
    result = server.call("review", {"base": "main~1..main"})
    assert not result.is_error, text_of(result)
    out = result.structured_content
    assert out is not None and out["files"] == ["src/config.py"] and out["findings"][0]["quote"] == "TIMEOUT = 5"
    unknown = server.call("review", {"base": "release-9"})
    injected = server.call("review", {"base": "--output=/tmp/review-pwned"})
    assert unknown.is_error and "knows no commit 'release-9'" in text_of(unknown)
    assert injected.is_error and "is not a ref or a range" in text_of(injected)


def test_cancelling_a_review_stops_its_model_turns(upstream: FakeUpstream, server: StdioServer) -> None:
    upstream.agent = Script(turns=[Turn(calls=[Call("list_dir", {"path": ""})])], repeat=True, latency=0.3)

    async def cancel_midway() -> int:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.acall, "review", {"max_steps": 50})
            started = await anyio.to_thread.run_sync(lambda: upstream.wait_for(lambda f: len(f.chat_requests()) >= 2))
            assert started
            tg.cancel_scope.cancel()
        seen = len(upstream.chat_requests())
        await anyio.sleep(1.0)  # what a loop that ignored the cancel would send meanwhile: 3 more turns
        return seen

    seen = server.run(cancel_midway)
    assert len(upstream.chat_requests()) <= seen + 1
    assert not server.call("list_models", {}).is_error


@pytest.mark.anyio
async def test_over_http_path_is_required_and_must_lie_inside_the_file_roots(
    upstream: FakeUpstream, repo: Path, workdir: Path
) -> None:
    results = []
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    for roots, args in (
        (str(repo), {}),
        (str(elsewhere), {"path": str(repo)}),
        (str(repo), {"path": str(repo), "base": "HEAD~1..HEAD"}),
    ):
        _script(upstream, [{**REAL, "path": "src/config.py", "line": 1, "title": "Timeout"}])
        env = {**server_env(upstream), "DEEPSEEK_MCP_HTTP_TOKEN": ALICE, "DEEPSEEK_MCP_FILE_ROOTS": roots}
        with http_server(env) as url:
            async with (
                httpx2.AsyncClient(headers={"Authorization": f"Bearer {ALICE}"}) as http,
                Client(streamable_http_client(url, http_client=http)) as client,
            ):
                with anyio.fail_after(30):
                    results.append(await client.call_tool("review", args))
    missing, outside, allowed = results
    assert missing.is_error and "pass `path`" in text_of(missing)
    assert outside.is_error and "DEEPSEEK_MCP_FILE_ROOTS" in text_of(outside)
    assert not allowed.is_error, text_of(allowed)
    assert allowed.structured_content is not None and allowed.structured_content["findings"][0]["title"] == "Timeout"


def test_a_clean_tree_reviews_its_last_commit(upstream: FakeUpstream, workdir: Path) -> None:
    clean = make_repo(workdir, "clean")
    git(clean, "add", "-A")
    git(clean, "commit", "-q", "-m", "everything")
    (clean / ".env").unlink()
    git(clean, "commit", "-q", "-am", "drop the env file")
    (clean / ".git/info/exclude").write_text("server-stderr.txt\n")  # the harness writes it in the working directory
    _script(upstream, [])
    with stdio_server(server_env(upstream), clean) as live:
        result = live.call("review", {})
        live.assert_nothing_leaked()
    assert not result.is_error, text_of(result)
    out = result.structured_content
    assert out is not None and out["base"].startswith("the last commit") and out["findings"] == []
    assert [s["path"] for s in out["skipped"]] == [".env"]
