"""A small Python project for `delegate`: a bug, its unittest, a secret, a neighbour outside it; and helpers to call
the tool through the in-memory client and to prove the user's tree unchanged."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import anyio

from mcp_server.core.config import Settings
from tests.conftest import connect, make_settings
from tests.fake_upstream import FakeUpstream

CHECK = "python3 -m unittest -q"
BUGGY = "def add(a, b):\n    return a - b\n\n\ndef double(x):\n    return add(x, x)\n"
TEST = (
    "import unittest\n\nimport calc\n\n\nclass Add(unittest.TestCase):\n"
    "    def test_add(self):\n        self.assertEqual(calc.add(2, 2), 4)\n"
)
ENV_VALUE = "API_TOKEN=hunter2-DELEGATE-ENV-5d1a"
OUTSIDE = "OUTSIDE-DELEGATE-3e7f\n"


def make_project(root: Path) -> Path:
    project = root / "project"
    (project / "tests").mkdir(parents=True)
    (project / "calc.py").write_text(BUGGY)
    (project / "tests/__init__.py").write_text("")
    (project / "tests/test_calc.py").write_text(TEST)
    (project / "config.json").write_text('{"name": "calc"}\n')
    (project / "README.md").write_text("# calc\n\nAdds numbers. add() and double() both add.\n")
    (project / ".env").write_text(f"{ENV_VALUE}\n")
    (root / "outside.txt").write_text(OUTSIDE)
    os.symlink(root / "outside.txt", project / "link_out.txt")
    return project


def fingerprint(folder: Path) -> dict[str, str]:
    """Every entry below `folder` (links not followed) with a digest of its content: equal before and after means
    nothing there was written, created or removed."""
    seen: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            seen[str(path)] = f"-> {os.readlink(path)}"
        elif path.is_file():
            seen[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            seen[str(path)] = "folder"
    return seen


def settings_for(deepseek: FakeUpstream, command: str | None = CHECK, **env: str) -> Settings:
    check = {"DEEPSEEK_MCP_CHECK_COMMAND": command} if command else {}
    return make_settings(deepseek, env={**check, **env})


async def delegate(settings: Settings, project: Path, **arguments: Any) -> tuple[dict[str, Any], str]:
    """The structured result and the text blocks of one delegate call; fails the test on a tool error."""
    async with connect(settings) as client:
        with anyio.fail_after(60):
            result = await client.call_tool("delegate", {"task": "fix add", "paths": [str(project)], **arguments})
    text = "\n".join(getattr(block, "text", "") for block in result.content)
    assert not result.is_error, text
    assert isinstance(result.structured_content, dict)
    return result.structured_content, text


def tool_results(fake: FakeUpstream) -> list[str]:
    """The function results the model received, in order (from the last request, which holds them all)."""
    return [m["content"] for m in fake.chat_requests()[-1].json["messages"] if m["role"] == "tool"]
