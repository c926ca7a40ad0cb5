"""README is a front door: short, its commands the ones CI and the hosts run, every link landing on a page that
exists, and the reference material in docs/ beside it."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
PAGES = ("tools", "install", "configuration", "security", "team", "reliability", "benchmarks", "development")


def _section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)\n```", text, re.DOTALL)


def test_the_readme_is_at_most_350_lines_and_links_every_docs_page() -> None:
    assert len(README.splitlines()) <= 350
    for page in PAGES:
        assert (ROOT / "docs" / f"{page}.md").is_file()
        assert f"](docs/{page}.md)" in README, f"README does not link docs/{page}.md"


def test_every_relative_link_in_the_readme_and_docs_lands_on_a_file() -> None:
    for document in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        prose = re.sub(r"```.*?```|`[^`\n]*`", "", document.read_text(encoding="utf-8"), flags=re.DOTALL)  # not code
        for target in re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", prose):
            assert (document.parent / target).exists(), f"{document.name} links {target}, which does not exist"


def test_the_readme_test_command_is_the_one_ci_runs() -> None:
    (command,) = _blocks(README.split("Run the tests", 1)[1], "sh")[:1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert command == 'python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && .venv/bin/pytest'
    assert f"\n{command}\n" in ci


def test_the_first_command_needs_only_python_and_the_host_snippet_launches_what_the_host_setup_installs() -> None:
    (first,) = _blocks(_section("Two commands"), "sh")[:1]
    assert first.startswith("python3 -m venv .venv && .venv/bin/pip install -e . && ")
    assert first.endswith(" .venv/bin/deepseek-mcp call chat prompt=hello")
    (install,) = _blocks(_section("In a host"), "sh")
    (snippet,) = _blocks(_section("In a host"), "json")
    entry = json.loads(snippet)["mcpServers"]["deepseek"]
    assert install == "uv tool install ."  # tests/interop/hosts.sh runs it, then the hosts start the snippet as written
    assert [entry["command"], *entry["args"]] == ["deepseek-mcp"]
    assert entry["env"] == {"DEEPSEEK_API_KEY": "<your DeepSeek API key>"}
    shipped = (ROOT / "ide-configs" / "claude-desktop" / "claude_desktop_config.json").read_text(encoding="utf-8")
    assert json.loads(shipped)["mcpServers"]["deepseek"] == entry


def test_the_readme_counts_the_tools_the_server_registers_and_keeps_its_registry_line() -> None:
    from mcp_server.server import TOOLS

    rows = re.findall(r"^\| `([a-z_]+)` \|", _section("Tools"), re.MULTILINE)
    assert rows == [fn.__name__ for fn, _, _ in TOOLS]
    assert "<!-- mcp-name: io.github.deepseek-mcp/deepseek-mcp -->" in README
