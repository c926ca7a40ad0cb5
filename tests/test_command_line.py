"""The command line as a person meets it: every mistake is one line and exit 2, help is built from the registered
tools, and `--version` answers without loading the MCP SDK. Run through the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from mcp_server.core.config import Settings
from mcp_server.server import build_server
from tests.conftest import upstream_env
from tests.fake_upstream import FakeUpstream

SCRIPT = Path(sys.executable).with_name("deepseek-mcp")


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DEEPSEEK_API", "ATLASCLOUD"))}
    return subprocess.run(  # noqa: S603 - our own console script
        [str(SCRIPT), *args], env={**base, **(env or {})}, capture_output=True, text=True, timeout=60, check=False
    )


def _registered() -> list[str]:
    return [tool.name for tool in anyio.run(build_server(Settings()).list_tools)]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["call", "chat", "hello"], "'hello' is not key=value; e.g. deepseek-mcp call chat prompt=hello"),
        (["call", "chta", "prompt=hi"], "no tool named 'chta' (did you mean chat?)"),
        (["call", "chat", "promt=hi"], "chat has no parameter 'promt' (did you mean prompt?)"),
        (["call", "investigate", "--json"], "investigate needs question=..."),
        (["call", "investigate", "--jsn", "question=why"], "no option '--jsn'"),
        (["--json", "call", "chat", "prompt=hi"], "an option goes after the command it belongs to"),
        (["cal", "chat"], "no command cal; the commands: serve, doctor, call"),
        (["serve", "--port", "eighty"], "invalid int value: 'eighty'"),
    ],
)
def test_every_usage_mistake_is_one_clear_line_and_exit_2_without_a_traceback(argv: list[str], says: str) -> None:
    done = _run(*argv)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and done.stdout == "", done.stderr
    assert len(lines) == 1 and says in lines[0], done.stderr
    assert "Traceback" not in done.stderr and "ExceptionGroup" not in done.stderr


def test_call_help_lists_every_registered_tool_with_its_description() -> None:
    done = _run("call", "--help")
    assert done.returncode == 0, done.stderr
    listed = done.stdout.split("\ntools:\n", 1)[1]
    names = [line.split()[0] for line in listed.splitlines() if line.startswith("  ") and not line.startswith("   ")]
    assert names == _registered()
    assert "  fim          Fill in the middle: code between a prefix and an optional suffix." in listed


def test_call_help_for_one_tool_lists_its_parameters_and_what_is_required() -> None:
    done = _run("call", "investigate", "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: deepseek-mcp call investigate question=... [key=value ...] [--json]")
    assert "  question (string, required)" in done.stdout and "  max_steps (integer, 1-50, default 16)" in done.stdout


def test_every_subcommand_says_what_it_does_in_its_help() -> None:
    for command in ("serve", "doctor"):
        done = _run(command, "--help")
        assert done.returncode == 0
        description = done.stdout.split("\n\n")[1]
        assert not description.startswith("options:"), f"`{command} --help` has no description"
    top = _run("--help")
    assert all(f"    {command}" in top.stdout for command in ("serve", "doctor", "call")), top.stdout


def test_version_answers_without_importing_the_sdk() -> None:
    code = (
        "import sys\nfrom mcp_server.__main__ import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mcp', 'pydantic', 'anyio', 'httpx2')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)  # noqa: S603
    assert done.stdout.splitlines() == ["deepseek-mcp 0.1.0", "[]"]


def test_json_may_follow_the_tool_name(deepseek: FakeUpstream) -> None:
    done = _run("call", "chat", "--json", "prompt=hello", env=upstream_env(deepseek))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["structuredContent"]["answer"] == "You said: hello (turn 1)"


def test_call_reason_labels_the_reasoning_and_the_answer(deepseek: FakeUpstream) -> None:
    done = _run("call", "reason", "prompt=hello", "effort=low", env=upstream_env(deepseek))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "--- reasoning ---\nThinking about: hello\n--- answer ---\nYou said: hello (turn 1)\n"
