"""A conversation's turn is saved after its answer: through the tools' own path, on a real SQLite file.

SQLite triggers stand in for a slow disk and for a failing one: they act on the conversations table only, so the
call's own spending record is written as usual and only the save after the answer is slowed or refused.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.types import CallToolResult, TextContent

from tests.conftest import connect, make_settings
from tests.fake_upstream import FakeUpstream

pytestmark = pytest.mark.anyio

# About ten million row pairs counted before each save: a second or so, far longer than a call's round trip.
_SLOW = """
CREATE TABLE burn (n INTEGER);
CREATE TRIGGER slow_save BEFORE INSERT ON conversations BEGIN SELECT count(*) FROM burn a, burn b; END;
"""
_BURN_ROWS = 5000
_FAILING = """
CREATE TRIGGER failing_save BEFORE INSERT ON conversations WHEN NEW.body LIKE '%the disk fills here%'
BEGIN SELECT RAISE(ABORT, 'disk I/O error (the disk is full)'); END;
"""


def _text(result: CallToolResult) -> str:
    return "\n".join(b.text for b in result.content if isinstance(b, TextContent))


def _out(result: CallToolResult) -> dict[str, Any]:
    assert result.structured_content is not None, _text(result)
    return result.structured_content


async def _created(path: Path, deepseek: FakeUpstream) -> None:
    """The state file with its tables, as a first server leaves it."""
    async with connect(make_settings(deepseek, env={"DEEPSEEK_MCP_STATE": str(path)})) as client:
        await client.call_tool("list_models", {})
        await client.call_tool("balance", {})


def _script(path: Path, sql: str) -> None:
    db = sqlite3.connect(path)
    try:
        db.executescript(sql)
    finally:
        db.close()


def _slowed(path: Path) -> None:
    _script(path, _SLOW)
    db = sqlite3.connect(path)
    try:
        db.executemany("INSERT INTO burn VALUES (?)", [(n,) for n in range(_BURN_ROWS)])
        db.commit()
    finally:
        db.close()


def _saved_ids(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return [row[0] for row in db.execute("SELECT id FROM conversations")]
    finally:
        db.close()


async def test_the_answer_comes_before_its_save_and_a_follow_up_on_another_server_waits_for_it(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    # The follow-up goes to a second server on the same file, as another process would: it has its own connection
    # to the file, so only the conversation's lock can make it wait for the first server's save.
    path = tmp_path / "state.db"
    await _created(path, deepseek)
    _slowed(path)
    settings = make_settings(deepseek, env={"DEEPSEEK_MCP_STATE": str(path)})
    async with connect(settings) as one, connect(settings) as two:
        with anyio.fail_after(30):
            first = await one.call_tool("chat", {"prompt": "remember 42"})
        on_disk_at_answer = _saved_ids(path)
        with anyio.fail_after(60):
            follow_up = await two.call_tool(
                "chat", {"prompt": "what number?", "conversation_id": _out(first)["conversation_id"]}
            )
    sent = [m["content"] for m in deepseek.chat_requests()[1].json["messages"]]
    assert on_disk_at_answer == [], "the answer waited for its turn to be saved"
    assert not follow_up.is_error, _text(follow_up)
    assert sent == ["remember 42", "You said: remember 42 (turn 1)", "what number?"]


async def test_a_clean_shutdown_waits_for_the_saves_still_pending(deepseek: FakeUpstream, tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    await _created(path, deepseek)
    _slowed(path)
    async with connect(make_settings(deepseek, env={"DEEPSEEK_MCP_STATE": str(path)})) as client:
        with anyio.fail_after(30):
            first = await client.call_tool("chat", {"prompt": "keep me"})
        pending = _saved_ids(path)
    after_shutdown = _saved_ids(path)
    assert pending == [] and after_shutdown == [_out(first)["conversation_id"]]


async def test_a_save_that_fails_after_the_answer_is_told_to_the_next_call_and_the_log(
    deepseek: FakeUpstream, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.db"
    await _created(path, deepseek)
    _script(path, _FAILING)
    caplog.set_level(logging.WARNING, logger="mcp_server.state.conversations")
    async with connect(make_settings(deepseek, env={"DEEPSEEK_MCP_STATE": str(path)})) as client:
        with anyio.fail_after(60):
            convo = _out(await client.call_tool("chat", {"prompt": "start"}))["conversation_id"]
            lost = await client.call_tool("chat", {"prompt": "the disk fills here", "conversation_id": convo})
            after = await client.call_tool("chat", {"prompt": "go on", "conversation_id": convo})
            again = await client.call_tool("chat", {"prompt": "and then", "conversation_id": convo})
            fresh = await client.call_tool("chat", {"prompt": "the disk fills here too"})
            unknown = await client.call_tool(
                "chat", {"prompt": "go on", "conversation_id": _out(fresh)["conversation_id"]}
            )
    sent = [m["content"] for m in deepseek.chat_requests()[2].json["messages"]]
    told = " ".join(_out(after)["notices"])
    assert not lost.is_error and _out(lost)["notices"] == []  # the answer went out before the save failed
    assert sent == ["start", "You said: start (turn 1)", "go on"]  # the next call continued without the lost turn
    assert "previous turn of this conversation was not kept" in told and "disk is full" in told
    assert "DEEPSEEK_MCP_STATE" in told and _out(again)["notices"] == []  # said once
    assert unknown.is_error and "could not be kept" in _text(unknown) and "disk is full" in _text(unknown)
    logged = [r.getMessage() for r in caplog.records if "was not kept after its answer" in r.getMessage()]
    assert len(logged) == 2 and all("disk is full" in line for line in logged)


async def test_a_turn_another_server_saved_is_read_again_not_taken_from_memory(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    settings = make_settings(deepseek, env={"DEEPSEEK_MCP_STATE": str(tmp_path / "state.db")})
    async with connect(settings) as one, connect(settings) as two:
        with anyio.fail_after(60):
            convo = _out(await one.call_tool("chat", {"prompt": "first"}))["conversation_id"]
            await two.call_tool("chat", {"prompt": "second", "conversation_id": convo})
            third = await one.call_tool("chat", {"prompt": "third", "conversation_id": convo})
    sent = [m["content"] for m in deepseek.chat_requests()[2].json["messages"]]
    assert not third.is_error, _text(third)
    assert sent == ["first", "You said: first (turn 1)", "second", "You said: second (turn 2)", "third"]
