"""The state backends on their own: memory, a real SQLite file and a real Redis server, held to the same rules.

Bounds (count, bytes, idle age, per owner), eviction that takes from the largest holder, locks across store objects
(as across processes), the budget's atomic hold, a private file, and errors that say what to do.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest

from mcp_server.core.config import Limits, Settings
from mcp_server.state import Bounds, Record, Store, StoreError, open_store
from mcp_server.state.sqlite import SqliteStore
from tests.redis_server import RedisServer, redis_server

pytestmark = pytest.mark.anyio
BACKENDS = ("memory", "sqlite", "redis")


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(params=BACKENDS)
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store's DEEPSEEK_MCP_STATE value; each test gets an empty one."""
    if request.param == "memory":
        yield "memory"
    elif request.param == "sqlite":
        yield str(tmp_path / "state" / "state.db")
    else:
        server: RedisServer = request.getfixturevalue("redis")
        import redis as redis_client

        redis_client.Redis.from_url(server.url).flushall()
        yield server.url


def _store(spec: str, **limits: int | float) -> Store:
    return open_store(Settings(limits=Limits(**limits), state=spec))  # type: ignore[arg-type]


async def _opened(spec: str, **limits: int | float) -> AsyncIterator[Store]:
    store = _store(spec, **limits)
    try:
        yield store
    finally:
        await store.aclose()


def _record(cid: str, owner: str, size: int, touched: float) -> Record:
    return Record(cid, owner, size, touched, "x" * size)


async def test_every_backend_bounds_conversations_by_count_bytes_and_idle_age(spec: str) -> None:
    store = _store(spec, conversations=3, conversations_total_bytes=1000, conversation_idle_seconds=60)
    try:
        for n in range(4):
            await store.save(_record(f"c{n}", "", 100, 1000.0 + n))
        kept = [n for n in range(4) if await store.load(f"c{n}", 1004.0) is not None]
        await store.save(_record("big", "", 850, 1005.0))  # past 1,000 bytes: the oldest go until it fits
        after_big = [n for n in range(4) if await store.load(f"c{n}", 1005.0) is not None]
        stats = await store.stats()
        idle = await store.load("big", 1005.0 + 61)
        assert kept == [1, 2, 3] and after_big == [3] and idle is None and stats == (2, 950)
    finally:
        await store.aclose()


async def test_one_owner_flooding_pushes_out_only_its_own_conversations(spec: str) -> None:
    store = _store(spec, conversations=10)
    try:
        for n in range(3):
            await store.save(_record(f"alice{n}", "alice", 10, 1000.0 + n))
        for n in range(50):
            await store.save(_record(f"mallory{n}", "mallory", 10, 2000.0 + n))
        alice = [await store.load(f"alice{n}", 2100.0) for n in range(3)]
        mallory = [n for n in range(50) if await store.load(f"mallory{n}", 2100.0) is not None]
        assert all(r is not None and r.owner == "alice" for r in alice)
        assert mallory == list(range(43, 50))  # the newest 7: 10 in all, alice's 3 kept
    finally:
        await store.aclose()


async def test_an_owner_past_its_quota_of_count_or_bytes_loses_its_own_oldest(spec: str) -> None:
    store = _store(spec, owner_conversations=2, owner_conversations_bytes=250)
    try:
        await store.save(_record("bob", "bob", 10, 999.0))
        for n in range(3):
            await store.save(_record(f"a{n}", "alice", 100, 1000.0 + n))
        by_count = [n for n in range(3) if await store.load(f"a{n}", 1010.0) is not None]
        await store.save(_record("a3", "alice", 200, 1004.0))
        by_bytes = [n for n in range(4) if await store.load(f"a{n}", 1010.0) is not None]
        assert by_count == [1, 2] and by_bytes == [3] and await store.load("bob", 1010.0) is not None
    finally:
        await store.aclose()


@pytest.mark.parametrize("spec", ["sqlite", "redis"], indirect=True)  # memory belongs to one process
async def test_a_conversation_saved_through_one_store_is_read_and_locked_through_another(spec: str) -> None:
    first, second = _store(spec), _store(spec)
    order: list[str] = []
    try:
        await first.save(_record("shared", "", 5, 1000.0))
        found = await second.load("shared", 1001.0)

        async def hold(store: Store, name: str, started: anyio.Event | None) -> None:
            async with store.lock("shared"):
                if started is not None:
                    started.set()
                order.append(f"{name} in")
                await anyio.sleep(0.2)  # long enough for the other to try while this one holds it
                order.append(f"{name} out")

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                started = anyio.Event()
                tg.start_soon(hold, first, "first", started)
                await started.wait()
                tg.start_soon(hold, second, "second", None)
    finally:
        await first.aclose()
        await second.aclose()
    assert found is not None and found.body == "xxxxx"
    assert order == ["first in", "first out", "second in", "second out"]


async def test_twenty_holds_at_once_against_a_budget_for_ten_let_ten_through(spec: str) -> None:
    stores = [_store(spec) for _ in range(2)] if spec != "memory" else [_store(spec)]
    granted: list[int] = []

    async def hold(n: int) -> None:
        store = stores[n % len(stores)]
        if await store.hold("alice", "2026-12-07", f"h{n}", 0.01, 0.1, 1000.0) is None:
            granted.append(n)

    try:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                for n in range(20):
                    tg.start_soon(hold, n)
        await stores[0].spend("alice", "2026-12-07", "chat", 0.004, 0.001, f"h{granted[0]}")
        after_spend = await stores[0].hold("alice", "2026-12-07", "late", 0.01, 0.1, 1000.0)
        expired = await stores[0].hold("alice", "2026-12-07", "next-hour", 0.01, 0.1, 1000.0 + 3601)
        other = await stores[0].hold("bob", "2026-12-07", "bob", 0.01, 0.1, 1000.0)
        spent = await stores[-1].spent("alice", ["2026-12-07"])
    finally:
        for store in stores:
            await store.aclose()
    assert len(granted) == 10
    assert after_spend == pytest.approx(0.094)  # 9 holds and $0.004 spent: one more does not fit
    assert expired is None and other is None  # holds expire; another owner has its own budget
    assert [(s.tool, s.calls) for s in spent] == [("chat", 1)] and spent[0].usd == pytest.approx(0.004)


def test_the_sqlite_file_is_private_in_a_private_folder(tmp_path: Path) -> None:
    path = tmp_path / "new" / "deeper" / "state.db"

    async def use() -> None:
        store = SqliteStore(path, Bounds.of(Limits()))
        await store.save(_record("c", "", 1, 1.0))
        async with store.lock("c"):
            pass
        await store.aclose()

    anyio.run(use)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (path.parent, path.parent.parent, path)}
    assert modes == {"deeper": 0o700, "new": 0o700, "state.db": 0o600}
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in path.parent.iterdir())


async def test_a_corrupt_sqlite_file_says_to_move_it_aside_and_names_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"not a database at all " * 300)
    store = SqliteStore(path, Bounds.of(Limits()))
    with pytest.raises(StoreError) as caught:
        await store.load("c", 1.0)
    await store.aclose()
    text = str(caught.value)
    assert str(path) in text and "move it aside" in text and "DEEPSEEK_MCP_STATE" in text


async def test_a_sqlite_file_locked_by_another_process_says_so_and_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path, Bounds.of(Limits()), busy_ms=100)
    await store.save(_record("c", "", 1, 1.0))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError) as caught:
            await store.save(_record("d", "", 1, 2.0))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        await store.aclose()
    text = str(caught.value)
    assert "locked by another process" in text and "DEEPSEEK_MCP_STATE" in text and "memory" in text


_HOLDER = """
import sys, anyio
from pathlib import Path
from mcp_server.core.config import Limits
from mcp_server.state import Bounds
from mcp_server.state.sqlite import SqliteStore

async def main():
    store = SqliteStore(Path(sys.argv[1]), Bounds.of(Limits()))
    async with store.lock("held"):
        print("held", flush=True)
        await anyio.sleep(3600)

anyio.run(main)
"""


async def test_a_conversation_lock_held_by_a_killed_process_is_freed_at_once(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path, Bounds.of(Limits()))
    async with await anyio.open_process([sys.executable, "-c", _HOLDER, str(path)]) as holder:
        assert holder.stdout is not None
        with anyio.fail_after(20):
            said = await holder.stdout.receive()
        with anyio.move_on_after(0.3) as waited:
            async with store.lock("held"):
                pass
        holder.kill()
        await holder.wait()
    try:
        with anyio.fail_after(5):
            async with store.lock("held"):
                got = True
    finally:
        await store.aclose()
    assert said.strip() == b"held" and waited.cancelled_caught and got


async def test_a_redis_lock_left_by_a_crashed_holder_expires_by_its_timeout(redis: RedisServer) -> None:
    import redis as redis_client

    from mcp_server.state.redis_store import RedisStore

    client = redis_client.Redis.from_url(redis.url)
    client.set("deepseek-mcp:lock:gone", "a crashed replica's token", px=300)  # what redis-py's Lock writes
    client.close()
    store = RedisStore(redis.url, Bounds.of(Limits()))
    try:
        with anyio.fail_after(5):
            async with store.lock("gone"):
                got = True
    finally:
        await store.aclose()
    assert got


async def test_the_redis_url_password_never_appears_in_the_stores_name_or_errors() -> None:
    url = f"redis://user:hunter2-{os.getpid()}@127.0.0.1:{_closed_port()}/0"
    store = _store(url)
    with pytest.raises(StoreError) as caught:
        await store.stats()
    await store.aclose()
    assert "hunter2" not in str(caught.value) and "hunter2" not in store.name
    assert "user:***@127.0.0.1" in store.name and "DEEPSEEK_MCP_STATE" in str(caught.value)


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_tool_loops_messages_round_trip_with_reasoning_and_tool_calls_intact(spec: str) -> None:
    from mcp_server.state.conversations import ConversationStore

    limits = Limits()
    store = _store(spec)
    conversations = ConversationStore(limits, store)
    call = {"id": "call_00_x", "type": "function", "function": {"name": "read", "arguments": '{"path": "a.py"}'}}
    exchange = [
        {"role": "user", "content": "why does it fail?"},
        {"role": "assistant", "content": "", "reasoning_content": "Read a.py first.", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_00_x", "content": "def f(): retrun 1"},
        {"role": "assistant", "content": "A typo: retrun.", "reasoning_content": "Found it."},
    ]
    try:
        fresh = await conversations.open(None, "alice")
        recorded = await conversations.record(fresh, "be brief", exchange, "stop")
        again = await conversations.open(fresh.id, "alice")
    finally:
        await store.aclose()
    following = {"role": "user", "content": "next"}
    assert recorded.kept and again.messages(None, following, reasoning=True) == [
        {"role": "system", "content": "be brief"},
        *exchange,
        following,
    ]
    # A request without tools gets the answer as plain text; the trail between stays as DeepSeek needs it.
    assert again.messages(None, following)[-2] == {"role": "assistant", "content": "A typo: retrun."}


def test_the_state_variable_takes_memory_a_redis_url_or_an_absolute_file_and_says_what_is_wrong(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from mcp_server.core.errors import ConfigError

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    default = Settings.from_env({}).state
    parsed = [Settings.from_env({"DEEPSEEK_MCP_STATE": v}).state for v in ("MEMORY", "rediss://h:6380/1", "~/s.db")]
    refused = {}
    for value in ("state.db", "http://h/x", "redis://:pw@", str(tmp_path), "redis://:secret-pw@h:99999/0"):
        with pytest.raises(ConfigError) as caught:
            Settings.from_env({"DEEPSEEK_MCP_STATE": value})
        refused[value] = str(caught.value)
    for name in ("DEEPSEEK_MCP_DAILY_BUDGET", "DEEPSEEK_MCP_MAX_COST_PER_CALL"):
        with pytest.raises(ConfigError, match=f"{name} must be an amount in USD"):
            Settings.from_env({name: "five"})
        with pytest.raises(ConfigError, match=f"{name} must be an amount in USD greater than 0"):
            Settings.from_env({name: "0"})
    assert default == str(tmp_path / "xdg" / "deepseek-mcp" / "state.db")
    assert parsed == ["memory", "rediss://h:6380/1", str(Path.home() / "s.db")]
    assert "absolute path" in refused["state.db"] and "redis:// or rediss://" in refused["http://h/x"]
    assert "names a folder" in refused[str(tmp_path)] and "host and port" in refused["redis://:pw@"]
    assert all("DEEPSEEK_MCP_STATE" in text and "secret-pw" not in text for text in refused.values())


def test_doctor_reports_which_store_is_used_and_whether_it_answers(tmp_path: Path) -> None:
    import io

    from mcp_server.cli import doctor

    def rows(spec: str) -> list[str]:
        out = io.StringIO()
        doctor.run(Settings.from_env({"DEEPSEEK_MCP_STATE": spec, "DEEPSEEK_MCP_DAILY_BUDGET": "3"}), {}, out)
        return [line for line in out.getvalue().splitlines() if "state store" in line or "spending limits" in line]

    file_rows = rows(str(tmp_path / "s.db"))
    down_rows = rows(f"redis://:pw-9f8e@127.0.0.1:{_closed_port()}/0")
    assert (
        file_rows[0].startswith("PASS")
        and str(tmp_path / "s.db") in file_rows[0]
        and "0 conversation(s)" in file_rows[0]
    )
    assert "DEEPSEEK_MCP_DAILY_BUDGET $3" in file_rows[1]
    assert down_rows[0].startswith("FAIL") and "DEEPSEEK_MCP_STATE" in down_rows[0] and "pw-9f8e" not in down_rows[0]
