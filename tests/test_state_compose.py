"""deploy/team/compose.yaml (docs/team.md) read as docker compose would, and held against the command line,
the settings and the load balancer's configuration (docker itself is not available where the tests run)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from mcp_server.__main__ import parse_args
from mcp_server.core.config import Settings
from mcp_server.serving.http import HttpOptions, check

TEAM = Path(__file__).resolve().parents[1] / "deploy" / "team"
CONFIGURATION = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
_VARIABLE = re.compile(r"\$\{([A-Z_]+)(?::?[-?]([^}]*))?\}")
SAMPLE = {
    "DEEPSEEK_API_KEY": "sk-sample-0123456789abcdef",
    "DEEPSEEK_MCP_HTTP_TOKEN": "token-alice-0123456789,token-bob-9876543210xx",
    "REDIS_PASSWORD": "sample-password",
}


def _interpolate(value: str) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}` with the sample environment."""

    def one(match: re.Match[str]) -> str:
        name, fallback = match[1], match[2]
        if name in SAMPLE:
            return SAMPLE[name]
        assert "?" not in match[0], f"{name} is required but the sample has no value for it"
        return fallback or ""

    return _VARIABLE.sub(one, value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((TEAM / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _replicas(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose["services"].items() if s.get("command", [None])[0] == "serve"}


def test_the_team_file_has_two_replicas_redis_and_a_load_balancer(compose: dict[str, Any]) -> None:
    services = compose["services"]
    replicas = _replicas(compose)
    assert sorted(replicas) == ["mcp-1", "mcp-2"] and {"redis", "lb"} <= set(services)
    assert all(s["depends_on"]["redis"]["condition"] == "service_healthy" for s in replicas.values())
    assert "healthcheck" in services["redis"] and "--appendonly" in services["redis"]["command"]
    assert (TEAM / compose["services"]["mcp-1"]["build"]["context"] / "Dockerfile").is_file()


def test_each_replicas_command_is_what_the_cli_accepts_for_a_shared_http_server(compose: dict[str, Any]) -> None:
    for service in _replicas(compose).values():
        args = parse_args(service["command"])
        env = {k: _interpolate(str(v)) for k, v in service["environment"].items()}
        tokens = tuple(t.strip() for t in env["DEEPSEEK_MCP_HTTP_TOKEN"].split(","))
        check(HttpOptions(host=args.host, port=args.port, tokens=tokens))  # raises if the CLI would refuse it
        assert args.command == "serve" and args.http and args.host == "0.0.0.0" and args.port == 8000


def test_each_replicas_environment_is_valid_settings_on_the_shared_redis(compose: dict[str, Any]) -> None:
    documented = CONFIGURATION.read_text()
    for service in _replicas(compose).values():
        env = {k: _interpolate(str(v)) for k, v in service["environment"].items()}
        settings = Settings.from_env(env)
        assert [name for name in env if f"`{name}`" not in documented] == []  # every variable is one the docs explain
        assert settings.state == "redis://:sample-password@redis:6379/0"
        assert settings.daily_budget == 5 and settings.max_cost_per_call == 1


def test_the_load_balancer_sends_mcp_to_both_replicas_at_their_port(compose: dict[str, Any]) -> None:
    lb = compose["services"]["lb"]
    mount = next(v for v in lb["volumes"] if v.startswith("./nginx.conf:"))
    conf = (TEAM / "nginx.conf").read_text()
    upstream = re.findall(r"^\s*server ([\w-]+):(\d+);", conf, flags=re.MULTILINE)
    assert mount.endswith(":/etc/nginx/conf.d/default.conf:ro") and lb["ports"] == ["8080:80"]
    assert sorted(upstream) == [("mcp-1", "8000"), ("mcp-2", "8000")]
    assert "location /mcp" in conf and "proxy_buffering off" in conf and "$http_host" in conf
