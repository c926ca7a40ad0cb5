"""What a full review of issues 10-14 found, each through the path the tool runs, so it cannot come back."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.types import TextContent

from mcp_server.core.config import Settings
from mcp_server.core.errors import ConfigError
from mcp_server.policy.scan import Scanner
from mcp_server.serving.app import owner_from_headers
from mcp_server.upstream.completion import Accumulator
from mcp_server.upstream.errors import parse_error_body
from tests.conftest import connect, make_settings
from tests.fake_upstream import FakeUpstream, Reply
from tests.samples import pdf

pytestmark = pytest.mark.anyio
SCRIPT = Path(sys.executable).with_name("deepseek-mcp")


def _text(result: Any) -> str:
    return "\n".join(b.text for b in result.content if isinstance(b, TextContent))


async def test_a_hostile_gitignore_line_does_not_freeze_the_walk(deepseek: FakeUpstream, tmp_path: Path) -> None:
    # Backtracking regexes took 91 s on this line and 30 folders; re2 matches in time linear in the path.
    project = tmp_path / "evil"
    (project / ".git").mkdir(parents=True)
    (project / ".gitignore").write_text("/".join(["a*", "**"] * 11) + "/z\n")
    deep = project.joinpath(*["a"] * 30)
    deep.mkdir(parents=True)
    (deep / "y.py").write_text("print('deep')\n")
    started = time.monotonic()
    async with connect(make_settings(deepseek)) as client:
        with anyio.fail_after(10):
            result = await client.call_tool("chat", {"prompt": "what is here?", "files": [str(project)]})
    assert not result.is_error, _text(result)
    sent = deepseek.chat_requests()[0].json["messages"][-1]["content"]
    assert time.monotonic() - started < 10 and "print('deep')" in sent


def _write(path: bytes, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)


async def test_a_file_name_that_is_not_utf8_is_skipped_not_a_crash(deepseek: FakeUpstream, tmp_path: Path) -> None:
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "ok.py").write_text("x = 1\n")
    _write(os.path.join(os.fsencode(folder), b"bad\xff.py"), b"y = 2\n")
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("chat", {"prompt": "review", "files": [str(folder)]})
    assert not result.is_error, _text(result)
    skipped = result.structured_content["skipped"]  # type: ignore[index]
    assert [s["reason"] for s in skipped] == ["its name is not UTF-8"] and "\\udcff" in skipped[0]["path"]


async def test_a_walk_does_not_follow_a_file_symlink_out_of_the_folder_given(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere.conf"
    outside.write_text("note = hunter2\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "main.py").write_text("print(1)\n")
    (project / "notes.md").symlink_to(outside)
    async with connect(make_settings(deepseek)) as client:
        walked = await client.call_tool("chat", {"prompt": "review", "files": [str(project)]})
        named = await client.call_tool("chat", {"prompt": "review", "files": [str(project / "notes.md")]})
    skipped = walked.structured_content["skipped"]  # type: ignore[index]
    assert [(s["path"], s["reason"]) for s in skipped] == [
        ("notes.md", "a symlink out of the folder given (not followed)")
    ]
    assert "hunter2" not in str(deepseek.chat_requests()[0].json)
    assert not named.is_error and "hunter2" in str(deepseek.chat_requests()[1].json)  # named directly, it is sent


@pytest.mark.parametrize("name", [".envrc", ".env_local", "prod.tfvars", "terraform.auto.tfvars"])
async def test_env_and_tfvars_files_are_never_walked_into_a_request(
    deepseek: FakeUpstream, tmp_path: Path, name: str
) -> None:
    (tmp_path / "app.py").write_text("print(1)\n")
    (tmp_path / name).write_text("export DB_PASSWORD=hunter2\n")
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("chat", {"prompt": "review", "files": [str(tmp_path)]})
    assert not result.is_error and "hunter2" not in str(deepseek.chat_requests()[0].json)


def test_the_key_scan_is_linear_on_a_megabyte_of_sk_garbage() -> None:
    scanner = Scanner.of(())
    started = time.perf_counter()
    assert scanner.finding("sk-" * 350_000) is None
    assert time.perf_counter() - started < 1.0  # 2 s a megabyte with the old lookahead
    assert scanner.finding("key = sk-proj-abcdefghijklmnopqrstuvwx1yz") is not None
    assert scanner.finding("we use sk-learn-style-pipelines-everywhere") is None


def test_a_long_error_body_is_parsed_quickly_and_clipped_keeping_its_trace_id() -> None:
    message = "x" + " " * 65_000 + "y"
    started = time.perf_counter()
    parsed = parse_error_body(('{"error": {"message": "' + message + '"}}').encode())
    assert time.perf_counter() - started < 0.5 and len(parsed.message) <= 300
    traced = parse_error_body(('{"error": {"message": "' + "z" * 5000 + ' [trace_id=abc123]"}}').encode())
    assert traced.message.endswith("[trace_id=abc123]") and len(traced.message) <= 300


def test_leading_whitespace_from_a_looping_model_is_split_in_linear_time() -> None:
    acc = Accumulator(think_tags="leading")
    started = time.perf_counter()
    for _ in range(80_000):
        acc.feed({"choices": [{"index": 0, "delta": {"content": "\n"}}]})
    acc.feed({"choices": [{"index": 0, "delta": {"content": "answer"}, "finish_reason": "stop"}]})
    assert time.perf_counter() - started < 2.0 and acc.result().content.endswith("answer")


def test_a_placeholder_http_token_is_no_token_and_the_http_server_refuses_to_start() -> None:
    settings = Settings.from_env({"DEEPSEEK_MCP_HTTP_TOKEN": "${DEEPSEEK_MCP_HTTP_TOKEN}"})
    assert (
        settings.http_tokens == () and "DEEPSEEK_MCP_HTTP_TOKEN holds an unexpanded placeholder" in settings.warnings[0]
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DEEPSEEK", "ATLASCLOUD"))}
    done = subprocess.run(  # noqa: S603 - our own console script
        [str(SCRIPT), "serve", "--http", "--host", "0.0.0.0"],
        env={**base, "DEEPSEEK_MCP_HTTP_TOKEN": "${DEEPSEEK_MCP_HTTP_TOKEN}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "Set DEEPSEEK_MCP_HTTP_TOKEN" in done.stderr


@pytest.mark.parametrize(
    ("env", "says"),
    [
        (
            {"DEEPSEEK_API_KEY": "sk-x", "DEEPSEEK_BASE_URL": "https://user:pass@api.deepseek.com"},
            "user name or password",
        ),
        ({"DEEPSEEK_MCP_FILE_ROOTS": " : "}, "names no folder"),
    ],
)
def test_settings_that_would_print_a_password_or_open_every_file_are_refused(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        Settings.from_env(env)


def test_the_owner_of_a_conversation_is_the_token_whatever_the_schemes_case() -> None:
    token = "tok-0123456789abcdefghij"
    owners = {owner_from_headers({"authorization": f"{scheme} {token}"}) for scheme in ("Bearer", "bearer", "BEARER ")}
    assert len(owners) == 1 and owner_from_headers({"authorization": "Bearer other-token-0123456"}) not in owners


async def test_a_pages_selection_of_five_thousand_digits_is_a_clear_error(atlas: FakeUpstream, tmp_path: Path) -> None:
    (tmp_path / "doc.pdf").write_bytes(pdf(100, 100))
    async with connect(make_settings(atlas=atlas)) as client:
        long = await client.call_tool("ocr", {"source": str(tmp_path / "doc.pdf"), "pages": "1" * 5000})
        huge = await client.call_tool("ocr", {"source": str(tmp_path / "doc.pdf"), "pages": "9" * 100})
    assert long.is_error and "at most 200" in _text(long) and "inside deepseek-mcp" not in _text(long)
    assert huge.is_error and "invalid pages" in _text(huge) and atlas.chat_requests() == []


async def test_a_worker_imports_nothing_from_the_servers_working_directory(
    atlas: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "hijacked"
    (tmp_path / "json.py").write_text(f"open({str(marker)!r}, 'w').close()\nraise SystemExit(3)\n")
    (tmp_path / "doc.pdf").write_bytes(pdf(100))
    monkeypatch.chdir(tmp_path)
    async with connect(make_settings(atlas=atlas)) as client:
        result = await client.call_tool("ocr", {"source": "doc.pdf"})
    assert not result.is_error, _text(result)
    assert not marker.exists()


async def test_routing_does_not_ask_a_provider_that_is_down_on_every_call(deepseek: FakeUpstream) -> None:
    from tests.reliability.conftest import free_port

    env = {"DEEPSEEK_MCP_OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1"}
    async with connect(make_settings(deepseek, env=env, max_retries=3)) as client:
        timings = []
        for _ in range(3):
            started = time.monotonic()
            await client.call_tool("chat", {"prompt": "hi", "model": "deepseek-flash"})
            timings.append(time.monotonic() - started)
    assert max(timings) < 2.0, timings  # a refused /models is not retried, and remembered for a minute


async def test_the_heartbeat_of_one_call_does_not_wait_for_another_clients_slow_progress(
    deepseek: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcp_server.serving import progress

    monkeypatch.setattr(progress, "HEARTBEAT", 0.25)
    deepseek.script(
        Reply(keepalives=8, keepalive_interval=0.2, content="a"),
        Reply(keepalives=8, keepalive_interval=0.2, content="b"),
    )
    stamps: list[float] = []

    async def stuck(value: float, total: float | None, message: str | None) -> None:
        await anyio.sleep(5)  # a client that does not take its notifications

    async def healthy(value: float, total: float | None, message: str | None) -> None:
        stamps.append(time.monotonic())

    async with connect(make_settings(deepseek)) as client, anyio.create_task_group() as tg:
        tg.start_soon(lambda: client.call_tool("chat", {"prompt": "slow"}, progress_callback=stuck))
        await client.call_tool("chat", {"prompt": "fine"}, progress_callback=healthy)
        tg.cancel_scope.cancel()
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert len(stamps) >= 4 and max(gaps) < 0.8, gaps
