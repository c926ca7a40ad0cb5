"""Settings checked where they enter, through the installed console script: a bad key or value stops the server
with one line naming the variable (exit 2) and never its value; redaction catches every printed form (issue 10)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_server.core.config import Limits, Settings
from mcp_server.core.errors import ConfigError
from mcp_server.policy.redaction import RedactingFilter, Redactor

SCRIPT = Path(sys.executable).with_name("deepseek-mcp")
PASTED = "sk-test-PASTED-4e1f0c2b"


def _start(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DEEPSEEK", "ATLASCLOUD"))}
    return subprocess.run(  # noqa: S603 - our own console script
        [str(SCRIPT), *args], env={**base, **env}, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEEPSEEK_API_KEY", f"{PASTED[:10]}\n{PASTED[10:]}"),
        ("DEEPSEEK_API_KEY", f"{PASTED[:10]} {PASTED[10:]}"),
        ("ATLASCLOUD_API_KEY", f"{PASTED}\x07"),
        ("DEEPSEEK_API_KEY", f"{PASTED}é"),
        ("DEEPSEEK_MCP_HTTP_TOKEN", f"{PASTED}-token\t-more"),
    ],
)
def test_a_key_with_a_control_space_or_non_ascii_character_stops_the_server_without_echoing_it(
    name: str, value: str
) -> None:
    done = _start({name: value})
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and "set it again" in lines[0], done.stderr
    assert PASTED[:10] not in done.stderr and PASTED[10:] not in done.stderr


def test_a_pasted_trailing_newline_is_only_trimmed() -> None:
    settings = Settings.from_env({"DEEPSEEK_API_KEY": f"  {PASTED}\r\n"})
    assert settings.secrets == (PASTED,)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEEPSEEK_MCP_MAX_RETRIES", "²"),
        ("DEEPSEEK_MCP_MAX_CONCURRENCY", "٣"),
        ("DEEPSEEK_MCP_MAX_CONCURRENCY", "0"),
        ("DEEPSEEK_MCP_TIMEOUT", "nan"),
        ("DEEPSEEK_MCP_TIMEOUT", "inf"),
        ("DEEPSEEK_MCP_TIMEOUT", "-5"),
        ("DEEPSEEK_MCP_MAX_CONTEXT_TOKENS", "12"),
        ("DEEPSEEK_MCP_MAX_CONTEXT_TOKENS", "1e6"),
        ("DEEPSEEK_MCP_FILE_ROOTS", "/no/such/folder/anywhere"),
        ("DEEPSEEK_BASE_URL", "https://api.deepseek.com/ with space"),
    ],
)
def test_every_bad_value_is_one_line_naming_the_variable_and_exit_2(name: str, value: str) -> None:
    done = _start({"DEEPSEEK_API_KEY": PASTED, name: value})
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("deepseek-mcp: ") and name in lines[0]
    assert "Traceback" not in done.stderr and PASTED not in done.stderr


def test_a_file_that_is_not_a_folder_is_refused_as_a_file_root(tmp_path: Path) -> None:
    (tmp_path / "plain.txt").write_text("x")
    with pytest.raises(ConfigError, match="not a folder"):
        Settings.from_env({"DEEPSEEK_MCP_FILE_ROOTS": str(tmp_path / "plain.txt")})


def test_a_limit_of_zero_is_refused_rather_than_read_as_unlimited() -> None:
    for name in ("conversations", "conversation_turns", "conversation_bytes", "max_context_tokens"):
        with pytest.raises(ConfigError, match=name):
            Limits(**{name: 0})


def test_redaction_catches_the_repr_and_json_forms_of_a_key() -> None:
    key = "sk-quote'and\"back\\slash"
    redact = Redactor((key,))
    for form in (
        key,
        repr(key),
        repr(key.encode()),
        f"{key!r}",
        str([key]),
        '{"k": "' + key.replace("\\", "\\\\").replace('"', '\\"') + '"}',
    ):
        assert key not in redact(form)
        assert "sk-quote" not in redact(form), (form, redact(form))


def test_the_log_filter_redacts_messages_arguments_and_tracebacks() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "header %r failed", (f"Bearer {PASTED}",), None)
    try:
        raise ValueError(f"Illegal header value b'Bearer {PASTED}'")
    except ValueError:
        record.exc_info = sys.exc_info()
    RedactingFilter((PASTED,)).filter(record)
    formatted = logging.Formatter().format(record)
    assert PASTED not in formatted and formatted.count("[redacted]") >= 2


@pytest.mark.parametrize(
    "placeholder", ["${DEEPSEEK_API_KEY}", "${env:DEEPSEEK_API_KEY}", "${input:deepseek-key}", "${{ secrets.KEY }}"]
)
def test_a_placeholder_the_host_did_not_expand_is_treated_as_unset_and_said_so(placeholder: str) -> None:
    settings = Settings.from_env({"DEEPSEEK_API_KEY": placeholder, "ATLASCLOUD_API_KEY": PASTED})
    assert [p.name for p in settings.providers] == ["atlas"]
    assert len(settings.warnings) == 1 and "DEEPSEEK_API_KEY holds an unexpanded placeholder" in settings.warnings[0]
    done = _start({"DEEPSEEK_API_KEY": placeholder}, "doctor")
    assert done.returncode == 1 and "unexpanded placeholder" in done.stdout and "treated as unset" in done.stdout
