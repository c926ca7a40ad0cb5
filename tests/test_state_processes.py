"""The installed console script over stdio, as IDE hosts run it: processes of one user share one SQLite file, so a
conversation outlives the process that started it and continues in another one running beside it."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.fake_upstream import FakeUpstream
from tests.reliability.conftest import server_env, stdio_server, text_of


def test_a_conversation_continues_in_a_second_stdio_server_and_after_a_restart(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    state = tmp_path / "state" / "state.db"
    env = server_env(deepseek, DEEPSEEK_MCP_STATE=str(state))
    with stdio_server(env, tmp_path) as one, stdio_server(env, tmp_path) as two:
        first = one.call("chat", {"prompt": "remember 42"})
        convo = first.structured_content["conversation_id"]  # type: ignore[index]
        second = two.call("chat", {"prompt": "what number?", "conversation_id": convo})
    with stdio_server(env, tmp_path) as restarted:
        third = restarted.call("chat", {"prompt": "and now?", "conversation_id": convo})
        balance = restarted.call("balance", {})
    sent = [[m["content"] for m in r.json["messages"]] for r in deepseek.chat_requests()]
    assert not second.is_error and not third.is_error, text_of(third)
    assert sent[1] == ["remember 42", "You said: remember 42 (turn 1)", "what number?"]
    assert sent[2] == [*sent[1], "You said: what number? (turn 2)", "and now?"]
    assert balance.structured_content["spent"]["today"]["calls"] == 3  # type: ignore[index]
    assert stat.S_IMODE(state.stat().st_mode) == 0o600 and stat.S_IMODE(state.parent.stat().st_mode) == 0o700


def test_a_corrupt_state_file_fails_only_the_calls_that_need_it_and_says_what_to_do(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    state = tmp_path / "state.db"
    state.write_bytes(b"\x00garbage that is no database" * 200)
    env = server_env(deepseek, DEEPSEEK_MCP_STATE=str(state))
    with stdio_server(env, tmp_path) as server:
        fresh = server.call("chat", {"prompt": "hi"})
        continued = server.call("chat", {"prompt": "hi", "conversation_id": "A" * 24})
        models = server.call("list_models", {})
    notices = " ".join(fresh.structured_content["notices"])  # type: ignore[index]
    assert not fresh.is_error and "move it aside" in notices and str(state) in notices
    assert continued.is_error and "DEEPSEEK_MCP_STATE" in text_of(continued)
    assert not models.is_error
