"""`delegate` through the installed console script over stdio, its check configured as an operator would: the check
prints its environment and its parent's (the server's keys would be there) in plain text and base64; no key reaches
the client, stderr or stdout, stdout stays JSON-RPC, and the user's folder is unchanged."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DEEPSEEK_KEY
from tests.delegate_project import fingerprint, make_project
from tests.fake.agent import Script, Turn, edit, run_check
from tests.fake_upstream import FakeUpstream
from tests.reliability.conftest import StdioServer, server_env, stdio_server, text_of

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.skipif(
        shutil.which("bwrap") is None, reason="the sandboxed check needs bubblewrap (.ci/run installs it)"
    ),
]
CHECK = "env; env | base64 -w0; echo; base64 -w0 /proc/$PPID/environ; echo; python3 -m unittest -q"


@pytest.fixture(scope="module")
def project(workdir: Path) -> Path:
    return make_project(workdir / "delegate")


@pytest.fixture(scope="module")
def server(upstream: FakeUpstream, project: Path) -> Iterator[StdioServer]:
    with stdio_server(server_env(upstream, DEEPSEEK_MCP_CHECK_COMMAND=CHECK), project.parent) as live:
        yield live


def test_over_stdio_the_check_runs_sandboxed_without_keys_and_the_patch_comes_back_verified(
    upstream: FakeUpstream, server: StdioServer, project: Path
) -> None:
    before = fingerprint(project)
    upstream.reset()
    upstream.agent = Script([Turn([run_check()]), Turn([edit("calc.py", "a - b", "a + b")])], final="Fixed add.")
    result = server.call("delegate", {"task": "fix add", "paths": ["project"]}, timeout=120)
    assert not result.is_error, text_of(result)
    out = result.structured_content
    assert out is not None and out["verification"]["applies"] is True
    check = out["verification"]["check"]
    assert check["passed"] is True and check["sandboxed"] is True and "OK" in check["output_tail"]
    seen = text_of(result) + str(out) + "".join(r.body.decode() for r in upstream.chat_requests())
    for spelled in (DEEPSEEK_KEY, base64.b64encode(DEEPSEEK_KEY.encode()).decode()[:24]):
        assert spelled not in seen
    server.assert_nothing_leaked()
    assert fingerprint(project) == before
