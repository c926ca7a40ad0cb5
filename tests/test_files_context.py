"""`files` on chat and reason, through the in-memory client against the fake upstream: what DeepSeek receives,
what is skipped or refused, the prompt-cache prefix, the budget and the bounds."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from mcp.types import TextContent

from mcp_server.core.config import Limits
from tests.conftest import DEEPSEEK_KEY, connect, make_settings
from tests.fake_upstream import CACHE_UNIT, FakeUpstream
from tests.projects import APP, ENV_SECRET, KEY_MATERIAL, SENT, SKIPPED, make_project

pytestmark = pytest.mark.anyio


def _texts(result: Any) -> list[str]:
    return [block.text for block in result.content if isinstance(block, TextContent)]


def _user_message(fake: FakeUpstream, index: int = 0) -> str:
    content = fake.chat_requests()[index].json["messages"][-1]["content"]
    assert isinstance(content, str)
    return content


def _labels(content: str) -> list[str]:
    return [json.loads(label) for label in re.findall(r'^<file path=("(?:[^"\\]|\\.)*")>$', content, re.M)]


def _nothing_secret_sent(fake: FakeUpstream) -> bool:
    return all(KEY_MATERIAL.encode() not in r.body and ENV_SECRET.encode() not in r.body for r in fake.requests)


def _limits(**changes: Any) -> Limits:
    return dataclasses.replace(Limits(), **changes)


async def test_a_project_folder_goes_out_as_sorted_labelled_text_before_the_prompt(
    deepseek: FakeUpstream, tmp_path: Path, mode: str
) -> None:
    project = make_project(tmp_path)
    async with connect(make_settings(deepseek), mode) as client:
        result = await client.call_tool("chat", {"prompt": "review this", "files": [str(project)]})
    assert not result.is_error, _texts(result)
    content = _user_message(deepseek)
    assert _labels(content) == SENT
    assert f'<file path="src/app.py">\n{APP}</file>\n\n' in content
    assert content.startswith("The user's files follow") and content.endswith("(End of files.)\n\nreview this")
    assert (
        _nothing_secret_sent(deepseek)
        and "GENERATED" not in content
        and "BUILT" not in content
        and "left-pad" not in content
    )
    out = result.structured_content
    assert out is not None
    assert [f["path"] for f in out["files"]] == SENT
    assert out["files"][1] == {"path": "src/app.py", "bytes": len(APP), "tokens": out["files"][1]["tokens"]}
    assert all(f["tokens"] > 0 for f in out["files"])
    assert {s["path"]: s["reason"] for s in out["skipped"]} == SKIPPED
    notice = _texts(result)[-1]
    assert result.content[-1].meta == {"deepseek-mcp/kind": "notice"}
    assert notice.startswith("Sent 5 file(s)") and ".env (named like a secret)" in notice
    assert out["notices"] == [notice]


async def test_two_calls_over_the_same_files_share_a_byte_identical_prefix_and_the_second_hits_the_cache(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    project = make_project(tmp_path)
    (project / "src" / "big.py").write_text("".join(f"value_{n} = {n}\n" for n in range(300)))
    async with connect(make_settings(deepseek)) as client:
        first = await client.call_tool("chat", {"prompt": "one question", "files": [str(project / "src")]})
        second = await client.call_tool(
            "reason", {"prompt": "another", "system": "be brief", "files": [str(project / "src")]}
        )
        third = await client.call_tool(
            "chat", {"prompt": "a third", "system": "be brief", "files": [str(project / "src")]}
        )
    one, _, three = (_user_message(deepseek, i) for i in range(3))
    block = one.removesuffix("one question")
    assert three == block + "a third"  # byte for byte, whatever the tool
    usage = [r.structured_content["usage"] for r in (first, second, third)]  # type: ignore[index]
    assert usage[0]["cache_hit_tokens"] == 0
    # The second call's system prompt differs, so its prefix differs from the first token: no hit. The third
    # repeats the second's system prompt and files: everything up to the last 64-token unit before its question.
    assert usage[1]["cache_hit_tokens"] == 0
    assert usage[2]["cache_hit_tokens"] > 0 and usage[2]["cache_hit_tokens"] % CACHE_UNIT == 0
    assert usage[2]["prompt_tokens"] - usage[2]["cache_hit_tokens"] < CACHE_UNIT + 2  # "a third": two words


async def test_a_follow_up_keeps_the_files_in_its_history_and_hits_the_cache_through_the_answer(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    project = make_project(tmp_path)
    async with connect(make_settings(deepseek)) as client:
        first = await client.call_tool("chat", {"prompt": "what does main return?", "files": [str(project / "src")]})
        convo = first.structured_content["conversation_id"]  # type: ignore[index]
        second = await client.call_tool("chat", {"prompt": "and helper?", "conversation_id": convo})
    messages = deepseek.chat_requests()[1].json["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"] == _user_message(deepseek, 0) and "return 42" in messages[0]["content"]
    assert messages[2]["content"] == "and helper?"
    hit = second.structured_content["usage"]["cache_hit_tokens"]  # type: ignore[index]
    assert hit == second.structured_content["usage"]["prompt_tokens"] - 2  # all but the two new words
    assert second.structured_content["files"] == []  # type: ignore[index]


async def test_files_count_toward_the_conversation_size_bound(deepseek: FakeUpstream, tmp_path: Path) -> None:
    project = make_project(tmp_path)
    settings = make_settings(deepseek, limits=_limits(conversation_bytes=300))
    async with connect(settings) as client:
        result = await client.call_tool("chat", {"prompt": "hi", "files": [str(project / "src" / "app.py")]})
    assert not result.is_error
    assert any("was not added to the conversation" in n for n in result.structured_content["notices"])  # type: ignore[index]


async def test_over_the_token_budget_is_an_error_naming_the_variable_and_the_largest_files_and_sends_nothing(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    project = make_project(tmp_path)
    (project / "src" / "huge.py").write_text("x = 1\n" * 2000)  # 12,000 bytes, ~3,600 tokens
    settings = make_settings(deepseek, env={"DEEPSEEK_MCP_MAX_CONTEXT_TOKENS": "1000"})
    async with connect(settings) as client:
        result = await client.call_tool("chat", {"prompt": "review", "files": [str(project)]})
        after = await client.call_tool("chat", {"prompt": "still there?"})
    assert result.is_error
    text = _texts(result)[0]
    assert "DEEPSEEK_MCP_MAX_CONTEXT_TOKENS" in text and "src/huge.py (11.7 KiB)" in text and "tokens" in text
    assert "nothing was sent" in text
    assert not after.is_error and len(deepseek.chat_requests()) == 1  # only the second call went out


@pytest.mark.parametrize(
    ("name", "why"),
    [
        (".env", "named like a file of keys"),
        ("certs/server.pem", "named like a file of keys"),
        ("notes/todo.txt", "it holds a private key"),
        (".aws/config", "lies where keys, credentials or system files are kept"),
        (".aws", "lies where keys, credentials or system files are kept"),
    ],
)
async def test_a_secret_named_directly_is_refused_and_nothing_at_all_is_sent(
    deepseek: FakeUpstream, tmp_path: Path, name: str, why: str
) -> None:
    project = make_project(tmp_path)
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("chat", {"prompt": "x", "files": [str(project / "src"), str(project / name)]})
    assert result.is_error and "refused" in _texts(result)[0] and why in _texts(result)[0], _texts(result)
    assert deepseek.requests == []


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        ("aws = 'AKIAQ7RZ4K2MXPLT3VNW'\n", "an AWS access key"),
        ("token = 'ghp_" + "a1B2" * 9 + "'\n", "a GitHub token"),
        ("token = 'github_pat_11ABCDEFG0123456789_abcdefghij'\n", "a GitHub token"),
        ("key = 'sk-" + "0123456789abcdef" * 2 + "'\n", "an OpenAI, DeepSeek or Anthropic key"),
        ("key = 'sk-proj-" + "Ab3" * 20 + "'\n", "an OpenAI, DeepSeek or Anthropic key"),
        ("slack = 'xoxb-123456789012-abcdefghij'\n", "a Slack token"),
        ("google = 'AIza" + "Sy0-" * 8 + "abc'\n", "a Google API key"),
        ("stripe = 'sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc" + "'\n", "a Stripe key"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n", "a private key"),
        (f"# copied from the server's env\nKEY={DEEPSEEK_KEY}\n", "this server's own API key or token"),
    ],
)
async def test_a_file_whose_content_holds_a_key_is_skipped_when_walking(
    deepseek: FakeUpstream, tmp_path: Path, content: str, kind: str
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "ok.py").write_text("print('fine')\n")
    (tmp_path / "src" / "config.py").write_text(content)
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("chat", {"prompt": "x", "files": [str(tmp_path / "src")]})
    assert not result.is_error
    line = 2 if content.startswith("#") else 1
    assert result.structured_content["skipped"] == [{"path": "config.py", "reason": f"it holds {kind} (line {line})"}]  # type: ignore[index]
    assert _labels(_user_message(deepseek)) == ["ok.py"] and content.strip() not in deepseek.requests[0].body.decode()


async def test_prose_that_merely_looks_like_a_key_prefix_is_sent(deepseek: FakeUpstream, tmp_path: Path) -> None:
    text = "Use sk-learn-style-pipelines-everywhere and the AKIA prefix rule; -----BEGIN CERTIFICATE-----\n"
    (tmp_path / "notes.md").write_text(text)
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("chat", {"prompt": "x", "files": [str(tmp_path / "notes.md")]})
    assert not result.is_error and text in _user_message(deepseek)


async def test_a_missing_path_is_an_error_naming_it_and_the_server_keeps_serving(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    async with connect(make_settings(deepseek)) as client:
        missing = await client.call_tool("chat", {"prompt": "x", "files": [str(tmp_path / "nope.py")]})
        empty = await client.call_tool("chat", {"prompt": "x", "files": [str(tmp_path)]})
        fine = await client.call_tool("chat", {"prompt": "x"})
    assert missing.is_error and f"{tmp_path / 'nope.py'} does not exist" in _texts(missing)[0]
    assert empty.is_error and "no text files to send" in _texts(empty)[0]
    assert not fine.is_error and len(deepseek.chat_requests()) == 1


async def test_relative_paths_start_at_the_working_directory(
    deepseek: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("chat", {"prompt": "x", "files": ["project/src/app.py", "project/src/util.py"]})
    assert not result.is_error and _labels(_user_message(deepseek)) == ["app.py", "util.py"]


async def test_file_roots_refuse_a_path_outside_and_skip_a_symlink_that_leads_out(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    project = make_project(tmp_path)
    os.symlink(project / "src" / "app.py", project / "notes" / "app_link.py")  # in notes/, pointing out of it
    settings = make_settings(deepseek, env={"DEEPSEEK_MCP_FILE_ROOTS": str(project / "notes")})
    async with connect(settings) as client:
        outside = await client.call_tool("chat", {"prompt": "x", "files": [str(project / "src")]})
        link = await client.call_tool("chat", {"prompt": "x", "files": [str(project / "notes" / "app_link.py")]})
        walked = await client.call_tool("chat", {"prompt": "x", "files": [str(project / "notes")]})
    assert outside.is_error and "DEEPSEEK_MCP_FILE_ROOTS" in _texts(outside)[0]
    assert link.is_error and "DEEPSEEK_MCP_FILE_ROOTS" in _texts(link)[0]
    assert walked.is_error  # todo.txt holds a key, the link leads out: nothing left to send
    assert "a symlink to a path outside DEEPSEEK_MCP_FILE_ROOTS" in _texts(walked)[0]
    assert deepseek.requests == []


async def test_over_http_without_file_roots_no_file_is_read(deepseek: FakeUpstream, tmp_path: Path) -> None:
    project = make_project(tmp_path)
    async with connect(make_settings(deepseek, serves_http=True)) as client:
        result = await client.call_tool("reason", {"prompt": "x", "files": [str(project / "src" / "app.py")]})
    assert result.is_error and "serving HTTP" in _texts(result)[0] and "DEEPSEEK_MCP_FILE_ROOTS" in _texts(result)[0]
    assert deepseek.requests == []


async def test_symlinked_folders_are_not_followed_so_a_loop_ends(deepseek: FakeUpstream, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.py").write_text("X = 1\n")
    os.symlink(tmp_path, tmp_path / "a" / "loop")
    os.symlink(tmp_path / "a" / "x.py", tmp_path / "a" / "y.py")  # the same file twice: sent once
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("chat", {"prompt": "x", "files": [str(tmp_path)]})
    assert not result.is_error
    assert _labels(_user_message(deepseek)) == ["a/x.py"]
    assert {"path": "a/loop/", "reason": "a symlink to a folder (not followed)"} in result.structured_content["skipped"]  # type: ignore[index]


async def test_a_fifo_is_skipped_when_walking_and_refused_when_named_without_hanging(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    (tmp_path / "ok.py").write_text("OK = 1\n")
    os.mkfifo(tmp_path / "pipe")
    async with connect(make_settings(deepseek)) as client:
        walked = await client.call_tool("chat", {"prompt": "x", "files": [str(tmp_path)]})
        named = await client.call_tool("chat", {"prompt": "x", "files": [str(tmp_path / "pipe")]})
    assert {"path": "pipe", "reason": "not a regular file (a device, pipe or socket)"} in walked.structured_content[  # type: ignore[index]
        "skipped"
    ]
    assert named.is_error and "not a regular file" in _texts(named)[0]


async def test_the_walk_bounds_stop_with_an_error_naming_them(deepseek: FakeUpstream, tmp_path: Path) -> None:
    for n in range(6):
        (tmp_path / f"m{n}.py").write_text(f"N = {n}\n")
    deep = tmp_path / "d1" / "d2" / "d3"
    deep.mkdir(parents=True)
    (deep / "deep.py").write_text("DEEP = 1\n")
    (tmp_path / "big.txt").write_text("y" * 3000)
    cases = {
        "context_files": (_limits(context_files=3), "more than 3 text files"),
        "context_entries": (_limits(context_entries=4), "more than 4 entries"),
        "context_seconds": (_limits(context_seconds=1e-9), "took more than"),
    }
    for limits, expected in cases.values():
        async with connect(make_settings(deepseek, limits=limits)) as client:
            result = await client.call_tool("chat", {"prompt": "x", "files": [str(tmp_path)]})
        assert result.is_error and expected in _texts(result)[0], _texts(result)
    assert deepseek.requests == []
    async with connect(make_settings(deepseek, limits=_limits(context_depth=2, context_file_bytes=2048))) as client:
        capped = await client.call_tool("chat", {"prompt": "x", "files": [str(tmp_path)]})
    skipped = {s["path"]: s["reason"] for s in capped.structured_content["skipped"]}  # type: ignore[index]
    assert skipped == {"d1/d2/d3/": "more than 2 folders deep", "big.txt": "larger than 2.0 KiB (the cap per file)"}


async def test_the_whole_file_system_stops_at_the_entry_bound(deepseek: FakeUpstream) -> None:
    async with connect(make_settings(deepseek, limits=_limits(context_entries=2000))) as client:
        result = await client.call_tool("chat", {"prompt": "x", "files": ["/"]})
    assert result.is_error and "more than 2,000 entries" in _texts(result)[0] and deepseek.requests == []


async def test_bad_files_arguments_are_clear_errors(deepseek: FakeUpstream) -> None:
    async with connect(make_settings(deepseek)) as client:
        too_many = await client.call_tool("chat", {"prompt": "x", "files": ["a"] * 101})
        nul = await client.call_tool("chat", {"prompt": "x", "files": ["a\x00b"]})
        blank = await client.call_tool("chat", {"prompt": "x", "files": [" "]})
    assert too_many.is_error and "at most 100" in _texts(too_many)[0]
    assert nul.is_error and "not a valid path" in _texts(nul)[0]
    assert blank.is_error and "empty path" in _texts(blank)[0]
    assert deepseek.requests == []


async def test_a_gitignore_above_the_folder_given_applies_inside_its_repository(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text("/pkg/gen/\n*.tmp\n!pkg/keep.tmp\n")
    (tmp_path / "pkg" / "gen").mkdir(parents=True)
    for name in ("pkg/a.py", "pkg/gen/b.py", "pkg/c.tmp", "pkg/keep.tmp"):
        (tmp_path / name).write_text("text\n")
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("chat", {"prompt": "x", "files": [str(tmp_path / "pkg")]})
    assert _labels(_user_message(deepseek)) == ["a.py", "keep.tmp"]
    assert {s["path"] for s in result.structured_content["skipped"]} == {"gen/", "c.tmp"}  # type: ignore[index]


async def test_the_second_opinion_prompt_teaches_passing_paths_instead_of_contents(deepseek: FakeUpstream) -> None:
    async with connect(make_settings(deepseek)) as client:
        named = await client.get_prompt("second_opinion", {"diff": "-a\n+b", "files": "src/app.py, tests"})
        bare = await client.get_prompt("second_opinion", {"diff": "-a\n+b"})
    named_text = named.messages[0].content.text  # type: ignore[union-attr]
    bare_text = bare.messages[0].content.text  # type: ignore[union-attr]
    assert 'Pass `files`: ["src/app.py", "tests"]' in named_text and "do not paste" in named_text
    assert "pass its paths in `files` rather than pasting it" in bare_text


async def test_a_10_gb_file_is_skipped_by_its_size_without_being_read(deepseek: FakeUpstream, tmp_path: Path) -> None:
    huge = tmp_path / "dump.sql"
    with huge.open("wb") as file:
        file.truncate(10 * 2**30)  # sparse: no disk used, and reading it would take minutes
    (tmp_path / "schema.sql").write_text("CREATE TABLE t (id int);\n")
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("chat", {"prompt": "x", "files": [str(huge), str(tmp_path / "schema.sql")]})
        alone = await client.call_tool("chat", {"prompt": "x", "files": [str(huge)]})
    assert result.structured_content["skipped"] == [  # type: ignore[index]
        {"path": "dump.sql", "reason": "larger than 1.0 MiB (the cap per file)"}
    ]
    assert alone.is_error and "dump.sql: larger than 1.0 MiB" in _texts(alone)[0]
    assert len(deepseek.chat_requests()) == 1


SECRET_NAMES = [".env.local", "prod.env", "id_ed25519", "id_rsa.pub", ".npmrc", ".pypirc", ".netrc", "tls.KEY",
                "credentials", "gcp-credentials.json", "service-account-ci.json", "terraform.tfstate.backup",
                "vault.kdbx", "secrets.yaml", "env.production", "prod.env.bak", "staging.env.local", "fish_history",
                "rclone.conf", ".yarnrc.yml", ".terraformrc", ".claude.json", "shadow-", "id_rsa.bak", "kubeconfig",
                ".netrc.orig", "credentials~"]  # fmt: skip
PLAIN_NAMES = ["secrets.py", "keys.py", "tokenizer.py", "monkey.txt", "environment.md", "credentials_test.py",
               "env.py", "env.d.ts", "history.py", "shadow.py", "config.json", "mcp.json"]  # fmt: skip


async def test_files_named_like_secrets_are_skipped_and_code_with_similar_names_is_sent(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    for name in SECRET_NAMES + PLAIN_NAMES:
        (tmp_path / name).write_text("harmless = True\n")
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("chat", {"prompt": "x", "files": [str(tmp_path)]})
    skipped = {s["path"]: s["reason"] for s in result.structured_content["skipped"]}  # type: ignore[index]
    assert skipped == dict.fromkeys(SECRET_NAMES, "named like a secret")
    assert _labels(_user_message(deepseek)) == sorted(PLAIN_NAMES)
