"""The ready-to-paste host configurations under ide-configs/ parse, launch the installed `deepseek-mcp` command, and
never hold a key; started exactly as written, every one serves and answers with what to replace.

Each host is read with a real parser (json, tomllib, yaml) and its server entry found by that host's own shape.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

CONFIGS = Path(__file__).resolve().parent.parent / "ide-configs"
SERVER_NAME = "deepseek"
# On PATH after `uv tool install .` or `pipx install .` (README); `uvx deepseek-mcp` once the package is on PyPI.
LAUNCH = ["deepseek-mcp"]
MIN_TOOL_TIMEOUT_S = 300

# Anything shaped like a real credential. Placeholders look like "<your DeepSeek API key>".
REAL_LOOKING_KEY = re.compile(r"sk-[A-Za-z0-9]{16,}|apikey-[A-Za-z0-9]{8,}", re.IGNORECASE)
PLACEHOLDER = re.compile(r"^<[^<>]*DeepSeek API key[^<>]*>$")


@dataclass(frozen=True)
class Entry:
    """One host's server entry, normalised: what it launches, its env block and its tool timeout."""

    argv: list[str]
    env: dict[str, str]
    raw: dict[str, Any]
    tool_timeout_s: float | None = None


def _load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _load_yaml(path: Path) -> Any:
    # Imported here so a missing PyYAML fails only the Continue case, with the module name in the error.
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _mcp_servers_entry(path: Path, *, container: str = "mcpServers", timeout_scale: float | None = None) -> Entry:
    data = _load_json(path)
    assert isinstance(data, dict)
    assert set(data) == {container}, f"{path.name} should hold only the {container!r} block to merge"
    raw = data[container][SERVER_NAME]
    timeout = raw.get("timeout")
    return Entry(
        argv=[raw["command"], *raw.get("args", [])],
        env=raw.get("env", {}),
        raw=raw,
        tool_timeout_s=None if timeout is None or timeout_scale is None else timeout * timeout_scale,
    )


def claude_desktop() -> Entry:
    return _mcp_servers_entry(CONFIGS / "claude-desktop" / "claude_desktop_config.json")


def claude_code() -> Entry:
    return _mcp_servers_entry(CONFIGS / "claude-code" / ".mcp.json")


def cursor() -> Entry:
    return _mcp_servers_entry(CONFIGS / "cursor" / "mcp.json")


def windsurf() -> Entry:
    return _mcp_servers_entry(CONFIGS / "windsurf" / "mcp_config.json")


def cline() -> Entry:
    return _mcp_servers_entry(CONFIGS / "cline" / "cline_mcp_settings.json", timeout_scale=1.0)


def gemini_cli() -> Entry:
    return _mcp_servers_entry(CONFIGS / "gemini-cli" / "settings.json", timeout_scale=1 / 1000)


def zed() -> Entry:
    return _mcp_servers_entry(CONFIGS / "zed" / "settings.json", container="context_servers", timeout_scale=1.0)


def vscode() -> Entry:
    data = _load_json(CONFIGS / "vscode" / "mcp.json")
    assert set(data) == {"inputs", "servers"}
    raw = data["servers"][SERVER_NAME]
    return Entry(argv=[raw["command"], *raw.get("args", [])], env=raw.get("env", {}), raw=raw)


def continue_dev() -> Entry:
    data = _load_yaml(CONFIGS / "continue" / "deepseek.yaml")
    assert isinstance(data, dict)
    servers = [s for s in data["mcpServers"] if s["name"] == SERVER_NAME]
    assert len(servers) == 1
    raw = servers[0]
    return Entry(argv=[raw["command"], *raw.get("args", [])], env=raw.get("env", {}), raw=raw)


def codex() -> Entry:
    data = tomllib.loads((CONFIGS / "codex" / "config.toml").read_text(encoding="utf-8"))
    raw = data["mcp_servers"][SERVER_NAME]
    return Entry(
        argv=[raw["command"], *raw.get("args", [])],
        env=raw.get("env", {}),
        raw=raw,
        tool_timeout_s=raw.get("tool_timeout_sec"),
    )


@dataclass(frozen=True)
class Host:
    files: frozenset[str]
    entry: Callable[[], Entry]
    # How DEEPSEEK_API_KEY reaches the server: the exact env value, PLACEHOLDER, or None for Codex's env_vars.
    key_value: str | re.Pattern[str] | None
    has_tool_timeout: bool = False


HOSTS: dict[str, Host] = {
    "claude-desktop": Host(frozenset({"claude_desktop_config.json"}), claude_desktop, PLACEHOLDER),
    "claude-code": Host(frozenset({".mcp.json", "claude-mcp-add.sh"}), claude_code, "${DEEPSEEK_API_KEY}"),
    "cursor": Host(frozenset({"mcp.json"}), cursor, "${env:DEEPSEEK_API_KEY}"),
    "vscode": Host(frozenset({"mcp.json"}), vscode, "${input:deepseek-api-key}"),
    "windsurf": Host(frozenset({"mcp_config.json"}), windsurf, "${env:DEEPSEEK_API_KEY}"),
    "zed": Host(frozenset({"settings.json"}), zed, PLACEHOLDER, has_tool_timeout=True),
    "continue": Host(frozenset({"deepseek.yaml"}), continue_dev, "${{ secrets.DEEPSEEK_API_KEY }}"),
    "cline": Host(frozenset({"cline_mcp_settings.json"}), cline, PLACEHOLDER, has_tool_timeout=True),
    "codex": Host(frozenset({"config.toml"}), codex, None, has_tool_timeout=True),
    "gemini-cli": Host(frozenset({"settings.json"}), gemini_cli, "$DEEPSEEK_API_KEY", has_tool_timeout=True),
}

# A value that the host expands from the environment, a prompt or a secret store: never a literal.
EXPANSION = re.compile(r"^(\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}|\$[A-Za-z_][A-Za-z0-9_]*|\$\{(env|input):[\w-]+\})$")

# Continue's secret reference, resolved from ~/.continue/.env or Continue Hub.
SECRET_REF = re.compile(r"^\$\{\{ secrets\.[A-Za-z_][A-Za-z0-9_]* \}\}$")

ALL_FILES = sorted(p for p in CONFIGS.rglob("*") if p.is_file())


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


# --- coverage: a new host can't be added untested, and none can go missing ----------------------------------


def test_every_host_directory_is_covered_by_a_test_case() -> None:
    on_disk = {p.name for p in CONFIGS.iterdir() if p.is_dir()}
    untested = on_disk - set(HOSTS)
    assert not untested, f"add these hosts to HOSTS in {Path(__file__).name}: {sorted(untested)}"


def test_every_expected_host_has_a_directory() -> None:
    missing = [name for name in HOSTS if not (CONFIGS / name).is_dir()]
    assert not missing


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_each_host_directory_holds_exactly_the_files_that_host_names(host: str) -> None:
    on_disk = {p.name for p in (CONFIGS / host).iterdir()}
    assert on_disk == HOSTS[host].files


def test_the_readme_names_every_host_file() -> None:
    readme = (CONFIGS / "README.md").read_text(encoding="utf-8")
    for host, spec in HOSTS.items():
        for name in spec.files:
            assert f"`{host}/{name}`" in readme, f"README.md does not list {host}/{name}"


# --- what every host launches and how it gets the key --------------------------------------------------------


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_each_host_launches_the_installed_deepseek_mcp_command(host: str) -> None:
    assert HOSTS[host].entry().argv == LAUNCH


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_each_host_supplies_the_deepseek_key_the_way_that_host_supports(host: str) -> None:
    spec, entry = HOSTS[host], HOSTS[host].entry()
    if spec.key_value is None:  # Codex: passed through by name, so no key may sit in an env table
        assert "DEEPSEEK_API_KEY" in entry.raw["env_vars"]
        assert "DEEPSEEK_API_KEY" not in entry.env
    elif isinstance(spec.key_value, re.Pattern):
        assert spec.key_value.fullmatch(entry.env["DEEPSEEK_API_KEY"])
    else:
        assert entry.env["DEEPSEEK_API_KEY"] == spec.key_value


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_the_optional_atlas_key_is_only_ever_expanded_never_a_placeholder(host: str) -> None:
    entry = HOSTS[host].entry()
    value = entry.env.get("ATLASCLOUD_API_KEY")
    if value is not None:
        # A placeholder would be sent to Atlas Cloud as a key; an expansion of an unset variable is empty.
        assert EXPANSION.fullmatch(value), value
    if HOSTS[host].key_value is PLACEHOLDER:
        assert value is None, "a host without expansion must leave the optional key out"


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_no_env_value_is_a_literal_key(host: str) -> None:
    for name, value in HOSTS[host].entry().env.items():
        assert EXPANSION.fullmatch(value) or PLACEHOLDER.fullmatch(value) or SECRET_REF.fullmatch(value), (
            f"{name}={value!r}"
        )


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_no_file_contains_anything_that_looks_like_a_real_key(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not REAL_LOOKING_KEY.search(text)


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_no_parsed_value_looks_like_a_real_key(host: str) -> None:
    for value in _strings(HOSTS[host].entry().raw):
        assert not REAL_LOOKING_KEY.search(value)


# --- started exactly as written: the server comes up and every placeholder gets its message -------------------

VENV_BIN = Path(sys.executable).parent  # where `deepseek-mcp` is installed, as `uv tool install .` puts it on PATH


def _expected_refusal(host: str, entry: Entry) -> str:
    """What the first tool call says, started with this host's env block as it is, nothing expanded."""
    spec = HOSTS[host]
    if spec.key_value is None:  # Codex passes the key through by name: unset here, so no key at all
        return "No API key is set. Set DEEPSEEK_API_KEY"
    value = entry.env["DEEPSEEK_API_KEY"]
    if isinstance(spec.key_value, re.Pattern):
        return f"DEEPSEEK_API_KEY is still a placeholder (`{value}`), not a key"
    return f"DEEPSEEK_API_KEY holds an unexpanded placeholder ({value})"


@pytest.mark.anyio
@pytest.mark.parametrize("host", sorted(HOSTS))
async def test_each_config_started_as_written_serves_and_every_tool_says_what_to_replace(
    host: str, tmp_path: Path
) -> None:
    entry = HOSTS[host].entry()
    env = {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(tmp_path),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        **entry.env,
    }
    params = StdioServerParameters(command=entry.argv[0], args=entry.argv[1:], env=env)
    with (tmp_path / "stderr.txt").open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            listed = [tool.name for tool in (await client.list_tools()).tools]
            # A placeholder stops every tool; Codex's unset key stops those that need a key, chat among them.
            called = listed if HOSTS[host].key_value is not None else ["chat"]
            results = [await client.call_tool(name, {"prompt": "hi"} if name == "chat" else {}) for name in called]
    said = _expected_refusal(host, entry)
    assert len(listed) >= 10
    for name, result in zip(called, results, strict=True):
        text = result.content[0].text  # type: ignore[union-attr]
        assert result.is_error and text.startswith(f"Error executing tool {name}: ") and said in text, (name, text)


# --- timeouts: thinking calls take minutes ------------------------------------------------------------------


@pytest.mark.parametrize("host", sorted(h for h, spec in HOSTS.items() if spec.has_tool_timeout))
def test_hosts_with_a_tool_timeout_allow_at_least_300_seconds(host: str) -> None:
    timeout = HOSTS[host].entry().tool_timeout_s
    assert timeout is not None
    assert timeout >= MIN_TOOL_TIMEOUT_S


def test_zed_timeout_stays_within_zeds_ten_minute_cap() -> None:
    assert zed().raw["timeout"] <= 600


# --- host-specific shapes -------------------------------------------------------------------------------------


def test_vscode_uses_servers_with_a_password_input_that_the_env_references() -> None:
    data = _load_json(CONFIGS / "vscode" / "mcp.json")
    assert "mcpServers" not in data
    server = data["servers"][SERVER_NAME]
    assert server["type"] == "stdio"
    inputs = {i["id"]: i for i in data["inputs"]}
    for value in server["env"].values():
        match = re.fullmatch(r"\$\{input:([\w-]+)\}", value)
        assert match, value
        referenced = inputs[match.group(1)]
        assert referenced["type"] == "promptString"
        assert referenced["password"] is True
    assert inputs["deepseek-api-key"]["password"] is True


def test_codex_passes_keys_through_env_vars_with_long_timeouts() -> None:
    raw = codex().raw
    assert raw["env_vars"] == ["DEEPSEEK_API_KEY", "ATLASCLOUD_API_KEY"]
    assert "env" not in raw
    assert raw["startup_timeout_sec"] == 30
    assert raw["tool_timeout_sec"] >= MIN_TOOL_TIMEOUT_S


def test_cline_entry_carries_clines_own_keys() -> None:
    raw = cline().raw
    assert raw["disabled"] is False
    assert raw["autoApprove"] == []
    assert isinstance(raw["timeout"], int)


def test_claude_code_project_file_is_a_stdio_server() -> None:
    assert claude_code().raw["type"] == "stdio"


def test_continue_block_declares_the_v1_block_header() -> None:
    data = _load_yaml(CONFIGS / "continue" / "deepseek.yaml")
    assert data["schema"] == "v1"
    assert isinstance(data["name"], str)
    assert data["name"]
    assert isinstance(data["version"], str)


# --- the Claude Code add script ---------------------------------------------------------------------------------

ADD_SCRIPT = CONFIGS / "claude-code" / "claude-mcp-add.sh"
BASH = shutil.which("bash")
needs_bash = pytest.mark.skipif(BASH is None, reason="bash is not installed")


def test_claude_add_script_reads_as_the_documented_command_line() -> None:
    command = re.sub(r"\s*\\\n\s*", " ", ADD_SCRIPT.read_text(encoding="utf-8"))
    assert re.search(
        r"^claude mcp add --transport stdio --scope user deepseek"
        r' --env DEEPSEEK_API_KEY="\$DEEPSEEK_API_KEY" .* -- deepseek-mcp$',
        command,
        re.MULTILINE,
    ), command


@needs_bash
def test_claude_add_script_passes_bash_syntax_check() -> None:
    assert BASH is not None
    result = subprocess.run([BASH, "-n", str(ADD_SCRIPT)], capture_output=True, text=True, check=False)  # noqa: S603
    assert result.returncode == 0, result.stderr


def _run_add_script(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str] | None]:
    """Run the script against a stub `claude` that records its argv, one argument per line."""
    assert BASH is not None
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    argv_file = tmp_path / "argv"
    stub = bin_dir / "claude"
    stub.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{argv_file}"\n', encoding="utf-8")
    stub.chmod(0o755)
    result = subprocess.run(  # noqa: S603
        [BASH, str(ADD_SCRIPT)],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    argv = argv_file.read_text(encoding="utf-8").splitlines() if argv_file.exists() else None
    return result, argv


@needs_bash
def test_claude_add_script_registers_the_server_with_the_key_from_the_environment(tmp_path: Path) -> None:
    result, argv = _run_add_script(tmp_path, DEEPSEEK_API_KEY="test-key-from-shell")
    assert result.returncode == 0, result.stderr
    assert argv == [
        "mcp", "add", "--transport", "stdio", "--scope", "user", "deepseek",
        "--env", "DEEPSEEK_API_KEY=test-key-from-shell",
        "--", "deepseek-mcp",
    ]  # fmt: skip


@needs_bash
def test_claude_add_script_adds_the_atlas_key_only_when_it_is_set(tmp_path: Path) -> None:
    result, argv = _run_add_script(tmp_path, DEEPSEEK_API_KEY="test-ds", ATLASCLOUD_API_KEY="test-atlas")
    assert result.returncode == 0, result.stderr
    assert argv is not None
    assert argv[argv.index("--") :] == ["--", "deepseek-mcp"]
    assert argv[:7] == ["mcp", "add", "--transport", "stdio", "--scope", "user", "deepseek"]
    assert "ATLASCLOUD_API_KEY=test-atlas" in argv
    assert argv[argv.index("ATLASCLOUD_API_KEY=test-atlas") - 1] == "--env"


@needs_bash
def test_claude_add_script_refuses_to_run_without_a_deepseek_key(tmp_path: Path) -> None:
    result, argv = _run_add_script(tmp_path)
    assert result.returncode != 0
    assert argv is None
    assert "DEEPSEEK_API_KEY" in result.stderr


def test_every_text_that_names_atlas_cloud_for_ocr_says_which_modes_it_adds() -> None:
    # A DeepSeek key alone reads markdown and text with DeepSeek's OCR API: Atlas Cloud no longer "enables" OCR.
    for path in sorted(p for p in CONFIGS.rglob("*") if p.is_file()):
        text = path.read_text(encoding="utf-8")
        assert "enables the OCR tool" not in text, path
        for line in text.splitlines():
            if re.search(r"atlas", line, re.IGNORECASE) and "OCR" in line:
                assert "figure, describe" in line, f"{path.name}: {line.strip()}"
