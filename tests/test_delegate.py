"""`delegate` through the in-memory client against the fake's scripted model: the patch, its verification, and the
walls around every read and write of the scratch copy."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mcp_server.delegate import folders
from tests.agent_project import MARKERS, make_agent_project
from tests.conftest import connect, make_settings
from tests.delegate_project import (
    OUTSIDE,
    delegate,
    fingerprint,
    make_project,
    settings_for,
    tool_results,
)
from tests.fake.agent import Call, Script, Turn, create, delete, edit, run_check
from tests.fake_upstream import FakeUpstream

pytestmark = pytest.mark.anyio


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path)


def _git_apply_check(project: Path, patch: str) -> subprocess.CompletedProcess[str]:
    # The test's own check with the real git, as a user would apply the patch (--check: nothing is written).
    return subprocess.run(
        ["git", "apply", "--check", "-"],  # noqa: S607
        input=patch, cwd=project, capture_output=True, text=True, check=False,
    )  # fmt: skip


async def test_a_scripted_edit_gives_a_patch_that_applies_and_parses_and_passes_the_check_while_the_tree_is_unchanged(
    deepseek: FakeUpstream, project: Path
) -> None:
    before = fingerprint(project.parent)
    deepseek.agent = Script(
        [
            Turn([Call("read_file", {"path": "calc.py"})]),
            Turn([edit("calc.py", "a - b", "a + b"), create("docs/notes.md", "add adds.\n")]),
            Turn([edit("config.json", '"calc"', '"calc", "version": 2'), delete("README.md")]),
        ],
        final="add subtracted; it adds now.",
    )
    out, text = await delegate(settings_for(deepseek), project)
    assert fingerprint(project.parent) == before
    assert [(f["path"], f["status"], f["added"], f["removed"]) for f in out["files"]] == [
        ("README.md", "deleted", 0, 3), ("calc.py", "modified", 1, 1), ("config.json", "modified", 1, 1),
        ("docs/notes.md", "added", 1, 0),
    ]  # fmt: skip
    verification = out["verification"]
    assert verification["applies"] is True
    assert {p["path"]: p["ok"] for p in verification["parses"]} == {
        "calc.py": True,
        "config.json": True,
        "docs/notes.md": None,
    }
    assert verification["check"] | {"seconds": 0, "output_tail": ""} == {
        "command": "python3 -m unittest -q", "ran": True, "passed": True, "exit_code": 0, "seconds": 0,
        "output_tail": "", "sandboxed": True,
    }  # fmt: skip
    assert _git_apply_check(project, out["patch"]).returncode == 0
    assert text.startswith("Verification: the patch applies to your current files") and "diff --git a/calc.py" in text
    assert "-    return a - b\n+    return a + b\n" in out["patch"] and out["answer"] == "add subtracted; it adds now."


async def test_a_patch_that_no_longer_applies_to_the_users_files_is_reported_so(
    deepseek: FakeUpstream, project: Path
) -> None:
    deepseek.agent = Script([Turn([edit("calc.py", "a - b", "a + b")]), Turn([run_check()])], final="Fixed.")
    out, text = await _with_user_edit(deepseek, project)
    assert out["verification"]["applies"] is False and "hunk 1" in out["verification"]["applies_detail"]
    assert "does NOT apply" in text
    assert _git_apply_check(project, out["patch"]).returncode != 0  # git agrees


async def _with_user_edit(deepseek: FakeUpstream, project: Path) -> tuple[dict[str, Any], str]:
    # The user edits the line the model changed while the model works: after the copy, before the patch is checked.
    original = deepseek.agent
    assert original is not None
    played = original.next

    def next_then_edit(tool_choice: object) -> Turn:
        turn = played(tool_choice)
        if len(original.played) == 2:
            (project / "calc.py").write_text("def add(a, b):\n    return b - a\n")
        return turn

    original.next = next_then_edit  # type: ignore[method-assign]
    return await delegate(settings_for(deepseek), project)


async def test_edits_out_of_the_copy_to_secrets_and_to_git_are_refused_as_function_results(
    deepseek: FakeUpstream, project: Path, tmp_path: Path
) -> None:
    (project / ".git").mkdir()
    (project / ".git/config").write_text("[core]\n")
    before = fingerprint(tmp_path)
    targets = ["../outside.txt", "../../x.py", "/etc/x", "~/x", ".env", ".git/config", "link_out.txt", "sub/../../x"]
    calls = [edit(path, "", "pwned\n") for path in targets] + [edit(path, "OUTSIDE", "x") for path in targets]
    calls += [delete(".env"), delete("link_out.txt"), delete("../outside.txt"), create("node_modules/x.js", "x\n")]
    calls += [create("keys/id_rsa", "x\n"), create("package-lock.json", "{}\n"), create(".git/hooks/pre-commit", "x")]
    deepseek.agent = Script([Turn(calls)], final="Tried.")
    out, _ = await delegate(settings_for(deepseek, command=None), project)
    outcomes = [s["outcome"] for s in out["steps"]]
    assert len(outcomes) == len(calls), outcomes
    assert [o for o in outcomes if not o.startswith("refused")] == []
    results = tool_results(deepseek)
    assert (
        "`..` is not allowed" in results[0] and "absolute paths" in results[2] and "named like a secret" in results[4]
    )
    assert ".git/ was left out of the copy" in results[5] and "a symlink out of the folder" in results[6]
    assert "a symlink out of the folder" in results[len(targets) + 6]
    assert "vendored" in results[-4] and "named like a secret" in results[-3] and "lock file" in results[-2]
    assert fingerprint(tmp_path) == before and out["patch"] == "" and out["files"] == []
    assert (tmp_path / "outside.txt").read_text() == OUTSIDE


async def test_an_old_text_that_is_not_unique_is_refused_with_a_hint_and_one_that_is_missing_too(
    deepseek: FakeUpstream, project: Path
) -> None:
    deepseek.agent = Script(
        [
            Turn([edit("calc.py", "add(", "plus("), edit("calc.py", "a * b", "x")]),
            Turn([edit("calc.py", "add(a", "plus(a")]),
        ]
    )
    out, _ = await delegate(settings_for(deepseek, command=None), project)
    first, missing, fixed = tool_results(deepseek)
    assert (
        first == "Refused: old_text occurs 2 times in calc.py; include more of the surrounding lines so it occurs once."
    )
    assert missing.startswith("Refused: old_text does not occur in calc.py; read_file it again")
    assert fixed.startswith("calc.py: replaced lines 1-1") and "def plus(a, b):" in out["patch"]


async def test_an_edit_that_breaks_the_syntax_is_told_to_the_model_and_reported_as_not_parsing(
    deepseek: FakeUpstream, project: Path
) -> None:
    deepseek.agent = Script([Turn([edit("calc.py", "return a - b", "return (a +"), edit("config.json", "}", "")])])
    out, text = await delegate(settings_for(deepseek, command=None), project)
    python, config = tool_results(deepseek)
    assert "Note: it no longer parses as Python (line 2:" in python and "no longer parses as JSON" in config
    parses = {p["path"]: p for p in out["verification"]["parses"]}
    assert parses["calc.py"]["ok"] is False and parses["calc.py"]["detail"].startswith("line 2:")
    assert "2 file(s) do NOT parse (calc.py, config.json)" in text


async def test_reads_of_the_copy_follow_the_same_secrets_policy_as_investigate(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    project = make_agent_project(tmp_path)
    reads = [".env", "src/settings.py", "../outside.txt", "/etc/passwd", "link_out.txt", "linked_dir/notes.txt"]
    reads += ["node_modules/left-pad/index.js", "generated/models.py", "notes/todo.txt", "~/.ssh/id_rsa", "README.md"]
    deepseek.agent = Script(
        [
            Turn([Call("read_file", {"path": path}) for path in reads]),
            Turn([Call("grep", {"pattern": "hunter2|PRIVATE|AKIA|OUTSIDE|GITIGNORED|exports"})]),
            Turn([Call("list_dir", {"path": ""}), Call("glob", {"pattern": "**/*"})]),
        ]
    )
    out, _ = await delegate(settings_for(deepseek, command=None), project)
    outcomes = [s["outcome"] for s in out["steps"]]
    assert all(o.startswith("refused") for o in outcomes[:10]) and not outcomes[10].startswith("refused"), outcomes
    assert "named like a secret" in outcomes[0] and "an AWS access key" in outcomes[1] and "private key" in outcomes[8]
    sent = b"".join(r.body for r in deepseek.chat_requests())
    assert not [m for m in MARKERS if m.encode() in sent], [m for m in MARKERS if m.encode() in sent]
    assert json.loads(deepseek.chat_requests()[2].body)["messages"][-1]["content"].startswith("0 matching lines")


async def test_the_scratch_copy_is_removed_at_the_end_and_a_crashed_runs_copy_at_the_next_start(
    deepseek: FakeUpstream, project: Path
) -> None:
    crashed = folders.make()  # its lock released as a crash would, its folder left
    crashed._release()
    live = folders.make()  # a run of another server, still going
    private = folders.private_folder()
    before = {p.name for p in private.iterdir()}
    deepseek.agent = Script([Turn([edit("calc.py", "a - b", "a + b")])])
    try:
        await delegate(settings_for(deepseek, command=None), project)
        after = {p.name for p in private.iterdir()}
        assert crashed.folder.name not in after and live.folder.name in after
        assert after <= before  # the call's own copy is gone too (other servers' live runs may come and go)
    finally:
        live.remove()


async def test_a_private_folder_open_to_others_is_refused_and_never_cleaned(tmp_path: Path) -> None:
    shared = tmp_path / f"deepseek-mcp-{os.getuid()}"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    (shared / "delegate-planted").mkdir()
    with pytest.raises(Exception, match="not a private folder"):
        folders.make(str(tmp_path))
    assert folders.sweep(str(tmp_path)) == 0 and (shared / "delegate-planted").exists()


async def test_over_the_wire_the_tool_entry_stays_small_and_describes_every_parameter() -> None:
    async with connect(make_settings()) as client:
        listing = await client.list_tools()
    tool = next(t for t in listing.tools if t.name == "delegate")
    assert len(tool.model_dump_json(by_alias=True, exclude_none=True).encode()) <= 1300
    assert all(p.get("description") for p in tool.input_schema["properties"].values())
    assert tool.annotations is not None and tool.annotations.read_only_hint is False


async def test_a_follow_up_starts_from_the_earlier_change_or_from_the_users_files_once_they_hold_it(
    deepseek: FakeUpstream, project: Path
) -> None:
    settings = settings_for(deepseek, command=None)
    async with connect(settings) as client:
        deepseek.agent = Script([Turn([edit("calc.py", "a - b", "a + b")])], final="Fixed add.")
        first = await client.call_tool("delegate", {"task": "fix add", "paths": [str(project)]})
        conversation = first.structured_content["conversation_id"]  # type: ignore[index]
        deepseek.agent = Script([Turn([create("NEWS.md", "add adds\n")])], final="Noted.")
        second = await client.call_tool(
            "delegate", {"task": "now also a news entry", "paths": [str(project)], "conversation_id": conversation}
        )
        earlier = [m["content"] for m in deepseek.chat_requests()[-1].json["messages"] if m["role"] == "assistant"]
        assert "The patch of this change" in earlier[1] and "+    return a + b" in earlier[1]
        (project / "calc.py").write_text((project / "calc.py").read_text().replace("a - b", "a + b"))  # applied
        deepseek.agent = Script([Turn([edit("README.md", "# calc", "# Calc")])], final="Titled.")
        third = await client.call_tool(
            "delegate", {"task": "and a title", "paths": [str(project)], "conversation_id": conversation}
        )
    paths = [[f["path"] for f in r.structured_content["files"]] for r in (first, second, third)]  # type: ignore[index]
    assert paths == [["calc.py"], ["NEWS.md", "calc.py"], ["NEWS.md", "README.md"]]
    assert third.structured_content["verification"]["applies"] is True  # type: ignore[index]
    assert not [n for n in third.structured_content["notices"] if "no longer applies" in n]  # type: ignore[index]


async def test_other_languages_parse_by_tree_sitter_where_it_is_installed_and_are_not_checked_where_not(
    deepseek: FakeUpstream, project: Path
) -> None:
    (project / "app.js").write_text("function f() {\n  return 1;\n}\n")
    deepseek.agent = Script([Turn([edit("app.js", "f() {", "f( {"), create("web/ok.js", "export const x = 1;\n")])])
    out, _ = await delegate(settings_for(deepseek, command=None), project)
    parsed = {p["path"]: p for p in out["verification"]["parses"]}
    if importlib.util.find_spec("tree_sitter") and importlib.util.find_spec("tree_sitter_javascript"):
        assert parsed["app.js"]["ok"] is False and parsed["app.js"]["detail"].endswith("(tree-sitter javascript)")
        assert parsed["web/ok.js"]["ok"] is True
    else:
        assert (
            parsed["app.js"]["ok"] is None and "tree_sitter_javascript are not installed" in parsed["app.js"]["detail"]
        )


async def test_a_new_text_holding_a_key_is_refused_and_never_written(deepseek: FakeUpstream, project: Path) -> None:
    token = "ghp_" + "Q3vX9kLm2Pz8RtY6wNb4Hc1Jd5Fg7Sa0Ue2Vi"
    deepseek.agent = Script([Turn([create("settings.py", f"TOKEN = '{token}'\n"), edit("calc.py", "a - b", token)])])
    out, _ = await delegate(settings_for(deepseek, command=None), project)
    created, edited = tool_results(deepseek)
    assert (
        created.startswith("Refused: the new text of settings.py is refused: it holds a GitHub")
        and "secrets are never written" in created
    )
    assert edited.startswith("Refused: the new text of calc.py is refused: it holds a GitHub")
    assert out["patch"] == "" and out["files"] == []  # (the model's own words in `steps` still hold what it wrote)
