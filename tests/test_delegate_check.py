"""`delegate`'s check on the tool's path: fed back to the model, reported when it fails, run in bubblewrap or with a
notice without it, with no key in its environment, killed whole at its time bound and on cancel, and never run
when none is configured."""

from __future__ import annotations

import base64
import dataclasses
import os
import shutil
from pathlib import Path

import anyio
import pytest

from mcp_server.core.config import Settings
from tests.conftest import DEEPSEEK_KEY, connect
from tests.delegate_project import OUTSIDE, delegate, make_project, settings_for, tool_results
from tests.fake.agent import Script, Turn, edit, run_check
from tests.fake_upstream import FakeUpstream

pytestmark = pytest.mark.anyio
BWRAP = shutil.which("bwrap")
needs_bwrap = pytest.mark.skipif(BWRAP is None and not os.environ.get("CI"), reason="bubblewrap is not installed")
FIX = edit("calc.py", "a - b", "a + b")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path)


def unsandboxed(settings: Settings) -> Settings:
    """As on a machine without bubblewrap."""
    assert settings.check is not None
    return dataclasses.replace(settings, check=dataclasses.replace(settings.check, bwrap=None))


async def test_a_failing_check_is_fed_back_to_the_model_and_fixed_in_a_later_step(
    deepseek: FakeUpstream, project: Path
) -> None:
    deepseek.agent = Script([Turn([run_check()]), Turn([FIX]), Turn([run_check()])], final="Fixed add.")
    out, _ = await delegate(settings_for(deepseek), project)
    failed, _, passed = tool_results(deepseek)
    assert failed.startswith("The check `python3 -m unittest -q` failed (exit code 1)")
    assert "AssertionError: 0 != 4" in failed and "FAILED (failures=1)" in failed
    assert passed.startswith("The check `python3 -m unittest -q` passed")
    assert [s["outcome"] for s in out["steps"]] == ["check failed", "replaced calc.py", "check passed"]
    assert out["verification"]["check"]["passed"] is True


async def test_a_check_that_still_fails_at_the_end_is_reported_failed_with_its_exit_code_and_output(
    deepseek: FakeUpstream, project: Path
) -> None:
    deepseek.agent = Script([Turn([edit("calc.py", "a - b", "b - a")])], final="Changed it.")
    out, text = await delegate(settings_for(deepseek), project)
    check = out["verification"]["check"]
    assert check["ran"] is True and check["passed"] is False and check["exit_code"] == 1
    assert "AssertionError" in check["output_tail"] and check["output_tail"].endswith("FAILED (failures=1)\n")
    assert "failed (exit code 1)" in text.partition("\n")[0]


@needs_bwrap
async def test_the_sandbox_has_no_network_and_cannot_write_outside_the_copy(
    deepseek: FakeUpstream, project: Path, tmp_path: Path
) -> None:
    probe = (
        f"touch {tmp_path}/escaped; python3 -c \"import socket; socket.create_connection(('127.0.0.1', "
        f'{deepseek.port}), 2)" 2>&1 | tail -1; test -e {project}/.env && echo ENV-VISIBLE; ls ~/.ssh 2>&1 | head -1; '
        "echo done"
    )
    deepseek.agent = Script([])
    out, _ = await delegate(settings_for(deepseek, command=probe), project)
    check = out["verification"]["check"]
    assert check["sandboxed"] is True and check["output_tail"].rstrip().endswith("done")
    assert "Network is unreachable" in check["output_tail"] or "Errno" in check["output_tail"]
    assert "ENV-VISIBLE" not in check["output_tail"] and not (tmp_path / "escaped").exists()
    assert not [n for n in out["notices"] if "sandbox" in n]


async def test_without_bubblewrap_the_check_runs_and_a_notice_says_it_ran_unsandboxed(
    deepseek: FakeUpstream, project: Path
) -> None:
    deepseek.agent = Script([Turn([FIX])])
    out, text = await delegate(unsandboxed(settings_for(deepseek)), project)
    assert out["verification"]["check"]["passed"] is True and out["verification"]["check"]["sandboxed"] is False
    assert any(
        n.startswith("The check ran without a sandbox (bubblewrap (bwrap) is not installed)") for n in out["notices"]
    )
    assert "without a sandbox" in text


async def test_over_http_without_a_sandbox_the_check_is_not_run(deepseek: FakeUpstream, project: Path) -> None:
    marker = project.parent / "ran"
    settings = unsandboxed(settings_for(deepseek, command=f"touch {marker}", DEEPSEEK_MCP_FILE_ROOTS=str(project)))
    deepseek.agent = Script([Turn([run_check()])])
    out, _ = await delegate(dataclasses.replace(settings, serves_http=True), project)
    assert out["verification"]["check"]["ran"] is False and not marker.exists()
    assert any("over HTTP a check runs only in a sandbox" in n for n in out["notices"])
    assert "run_check" not in [t["function"]["name"] for t in deepseek.chat_requests()[0].json["tools"]]


@pytest.mark.parametrize("sandboxed", [True, False])
async def test_the_checks_output_never_holds_a_key_even_when_it_prints_its_environment_in_any_encoding(
    deepseek: FakeUpstream, project: Path, sandboxed: bool
) -> None:
    if sandboxed and BWRAP is None and not os.environ.get("CI"):
        pytest.skip("bubblewrap is not installed")
    token = "ghp_" + "Zr8Kq2Lm5Nx7Pw1Ty4Vb6Hc9Jd3Fg0Sa2Ue4Vi"
    command = "env; env | base64 -w0; echo; env | od -An -tx1 | tr -d ' \\n'; echo; echo listed"
    settings = settings_for(deepseek, command=command, GITHUB_TOKEN=token, INNOCENT=DEEPSEEK_KEY, PATH=os.defpath)
    deepseek.agent = Script([Turn([run_check()])])
    out, text = await delegate(settings if sandboxed else unsandboxed(settings), project)
    seen = out["verification"]["check"]["output_tail"]
    assert "listed" in seen and "PATH=" in seen  # the environment was printed: the rest of it is there
    everything = text + str(out) + "".join(tool_results(deepseek))
    for secret in (DEEPSEEK_KEY, token):
        for spelled in (secret, base64.b64encode(secret.encode()).decode()[:24], secret.encode().hex()[:24]):
            assert spelled not in everything
        assert "INNOCENT" not in seen and "GITHUB_TOKEN" not in seen


@needs_bwrap
async def test_a_check_past_its_time_bound_is_killed_and_reported(deepseek: FakeUpstream, project: Path) -> None:
    settings = settings_for(deepseek, command="echo started; sleep 60", DEEPSEEK_MCP_CHECK_SECONDS="1")
    deepseek.agent = Script([Turn([run_check()])])
    with anyio.fail_after(20):
        out, _ = await delegate(settings, project)
    check = out["verification"]["check"]
    assert check["passed"] is False and check["exit_code"] is None and 1 <= check["seconds"] < 10
    assert check["output_tail"] == "started\n" and "timed out" in tool_results(deepseek)[0]


async def test_the_whole_process_group_is_killed_at_the_time_bound_and_on_cancel(
    deepseek: FakeUpstream, project: Path, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    # Each pid written whole before `child` appears (the test reads both once it does, then cancels).
    command = f"echo $$ > {pids}/shell; sleep 300 & echo $! > {pids}/new; mv {pids}/new {pids}/child; wait"
    settings = unsandboxed(settings_for(deepseek, command=command, DEEPSEEK_MCP_CHECK_SECONDS="1"))
    deepseek.agent = Script([Turn([run_check()])])
    out, _ = await delegate(settings, project)
    assert out["verification"]["check"]["exit_code"] is None
    assert not _alive(pids)
    (pids / "child").unlink()
    settings = unsandboxed(settings_for(deepseek, command=command))  # 300 s: only the cancel stops it
    deepseek.agent = Script([Turn([run_check()])])
    async with connect(settings) as client:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.call_tool, "delegate", {"task": "t", "paths": [str(project)]})
                while not (pids / "child").exists():  # noqa: ASYNC110 - another process's file: no event to await
                    await anyio.sleep(0.05)
                tg.cancel_scope.cancel()
    assert not _alive(pids)


def _alive(pids: Path) -> list[int]:
    alive = []
    for name in ("shell", "child"):
        pid = int((pids / name).read_text())
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except FileNotFoundError:
            continue
        if state != "Z":  # a zombie is dead, waiting for a parent (here: whatever reaps orphans) to collect it
            alive.append(pid)
    return alive


async def test_with_no_check_configured_run_check_is_not_offered_and_nothing_runs_whatever_the_caller_passes(
    deepseek: FakeUpstream, project: Path
) -> None:
    marker = project.parent / "ran"
    deepseek.agent = Script([Turn([run_check(), FIX])])
    arguments = {"check": True, "command": f"touch {marker}", "DEEPSEEK_MCP_CHECK_COMMAND": f"touch {marker}"}
    out, _ = await delegate(settings_for(deepseek, command=None), project, **arguments)
    offered = [t["function"]["name"] for t in deepseek.chat_requests()[0].json["tools"]]
    assert offered == ["list_dir", "glob", "grep", "read_file", "edit_file", "delete_file"]
    assert tool_results(deepseek)[0].startswith("Refused: there is no function 'run_check'")
    assert out["verification"]["check"] == {
        "command": None, "ran": False, "passed": None, "exit_code": None, "seconds": None, "output_tail": "",
        "sandboxed": None,
    }  # fmt: skip
    assert not marker.exists() and any("none is configured" in n for n in out["notices"])


async def test_check_false_runs_no_configured_check_and_does_not_offer_it(
    deepseek: FakeUpstream, project: Path
) -> None:
    marker = project.parent / "ran"
    deepseek.agent = Script([Turn([FIX])])
    out, _ = await delegate(settings_for(deepseek, command=f"touch {marker}"), project, check=False)
    assert "run_check" not in [t["function"]["name"] for t in deepseek.chat_requests()[0].json["tools"]]
    assert not marker.exists() and out["verification"]["check"]["ran"] is False


async def test_an_edit_of_a_hard_link_the_check_made_to_a_file_outside_leaves_that_file_unchanged(
    deepseek: FakeUpstream, project: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    settings = unsandboxed(settings_for(deepseek, command=f"ln {outside} hard.txt"))  # in bubblewrap: EXDEV
    deepseek.agent = Script([Turn([run_check()]), Turn([edit("hard.txt", "OUTSIDE", "PWNED")])])
    out, _ = await delegate(settings, project)
    assert out["steps"][1]["outcome"] == "replaced hard.txt"  # the model's edit landed, in the copy
    assert outside.read_text() == OUTSIDE and "+PWNED-DELEGATE-3e7f" in out["patch"]


def test_doctor_names_the_check_its_sandbox_and_the_variables_it_loses_never_their_values(
    deepseek: FakeUpstream, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mcp_server.__main__ import main

    token = "ghp_" + "Zr8Kq2Lm5Nx7Pw1Ty4Vb6Hc9Jd3Fg0Sa2Ue4Vi"
    monkeypatch.setenv("DEEPSEEK_API_KEY", DEEPSEEK_KEY)
    monkeypatch.setenv("DEEPSEEK_BASE_URL", deepseek.base_url)
    monkeypatch.setenv("DEEPSEEK_MCP_CHECK_COMMAND", "python3 -m unittest -q")
    monkeypatch.setenv("MY_GITHUB_TOKEN", token)
    main(["doctor"])
    lines = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    assert "delegate check python3 -m unittest -q (at most 300 s)" in lines
    assert any(line.startswith(("PASS check sandbox bubblewrap", "FAIL check sandbox")) for line in lines)
    dropped = next(line for line in lines if line.startswith("check environment"))
    assert "MY_GITHUB_TOKEN" in dropped and "DEEPSEEK_API_KEY" in dropped
    assert token not in "\n".join(lines) and DEEPSEEK_KEY not in "\n".join(lines)


async def test_a_check_output_holding_a_secret_is_withheld_whole(deepseek: FakeUpstream, project: Path) -> None:
    from tests.projects import PRIVATE_KEY

    pem = PRIVATE_KEY.replace("\n", "\\n")
    deepseek.agent = Script([Turn([run_check()])])
    out, _ = await delegate(settings_for(deepseek, command=f"echo before; printf '%b' '{pem}'; echo after"), project)
    tail = out["verification"]["check"]["output_tail"]
    assert tail.startswith("(the output is withheld: it holds a private key") and "PRIVATE-MATERIAL" not in tail
    assert "PRIVATE-MATERIAL" not in tool_results(deepseek)[0].partition("The end of its output:")[2]
