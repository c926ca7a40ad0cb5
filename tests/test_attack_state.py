"""Attacks on the state stores, the conversation bounds, the budget and the secrets around them.

Each test here shows a defect found by attacking the integrated branch: it fails on the code it was written
against, and passes once the defect is fixed. The report that goes with it names the cause and the fix.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from mcp.types import CallToolResult, TextContent

from mcp_server.core.config import Limits, Settings
from mcp_server.core.errors import ConfigError
from mcp_server.state import Bounds, Record
from mcp_server.state.sqlite import SqliteStore
from tests.conftest import connect, make_settings
from tests.fake_upstream import FakeUpstream, Reply
from tests.redis_server import RedisServer, redis_server

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


def _text(result: CallToolResult) -> str:
    return "\n".join(b.text for b in result.content if isinstance(b, TextContent))


# --- the SQLite file on disk ---------------------------------------------------------------------------------------


async def test_a_symlink_planted_at_the_state_path_is_not_written_through(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    # Another local user (or a careless `ln -s`) points the state file at a file of the victim's choosing: the
    # server must refuse it, not create a database there (think ~/.bashrc, authorized_keys, a cron file).
    elsewhere = tmp_path / "victim"
    elsewhere.mkdir()
    target = elsewhere / "authorized_keys"
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "state.db").symlink_to(target)
    settings = make_settings(deepseek, env={"DEEPSEEK_MCP_STATE": str(state / "state.db")})
    async with connect(settings) as client:
        with anyio.fail_after(30):
            await client.call_tool("chat", {"prompt": "hello"})
    assert not target.exists(), "the server created and wrote a SQLite database through the planted symlink"


def test_an_existing_state_file_readable_by_others_is_made_private_or_refused(tmp_path: Path) -> None:
    # A state file that already exists with mode 0666 (made by an older version, a restore, a umask 000 shell)
    # holds every conversation and the spending: the store keeps using it as it is.
    path = tmp_path / "state.db"
    path.touch()
    path.chmod(0o666)

    async def use() -> None:
        store = SqliteStore(path, Bounds.of(Limits()))
        try:
            await store.save(Record("c", "", 6, 1.0, "secret"))
        except Exception:
            return
        finally:
            await store.aclose()

    anyio.run(use)
    mode = stat.S_IMODE(path.stat().st_mode)
    readable = sqlite3.connect(path).execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
    assert not (readable and mode & 0o077), f"conversations were written to a state file of mode {oct(mode)}"


def test_a_state_file_in_a_world_writable_folder_is_refused(tmp_path: Path) -> None:
    # In a folder anyone may write (/tmp, a shared mount), another user can replace state.db or its -wal file
    # between two calls, or plant the symlink above: the store uses it without a word.
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    path = shared / "state.db"

    async def use() -> bool:
        store = SqliteStore(path, Bounds.of(Limits()))
        try:
            await store.save(Record("c", "", 1, 1.0, "x"))
        except Exception:
            return False
        finally:
            await store.aclose()
        return True

    assert not anyio.run(use), "conversations were stored in a folder every user may write"


# --- the bounds ---------------------------------------------------------------------------------------------------


async def test_a_system_prompt_that_json_escapes_large_cannot_store_past_the_byte_bound(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    # The system prompt is counted as its UTF-8 bytes, but stored as JSON: a control character is 1 byte counted
    # and 6 bytes (\u0001) stored. Ten 100 KB prompts pass a 1 MiB bound as 6 MB on disk (or in Redis / memory).
    bound = 1024 * 1024
    path = tmp_path / "state.db"
    settings = make_settings(
        deepseek, env={"DEEPSEEK_MCP_STATE": str(path)}, limits=Limits(conversations_total_bytes=bound)
    )
    async with connect(settings) as client:
        for n in range(10):
            with anyio.fail_after(30):
                result = await client.call_tool("chat", {"prompt": f"q{n}", "system": "\x01" * 100_000})
            assert not result.is_error, _text(result)
    db = sqlite3.connect(path)
    (stored,) = db.execute("SELECT coalesce(sum(length(CAST(body AS BLOB))), 0) FROM conversations").fetchone()
    db.close()
    assert stored <= bound, f"{stored:,} bytes of conversations stored under a bound of {bound:,}"


# --- hostile or corrupt state ----------------------------------------------------------------------------------------


async def test_a_malformed_conversation_in_redis_gets_an_error_naming_the_store_not_a_crash(
    deepseek: FakeUpstream, redis: RedisServer
) -> None:
    import redis as redis_client

    settings = make_settings(deepseek, env={"DEEPSEEK_MCP_STATE": redis.url})
    async with connect(settings) as client:
        first = await client.call_tool("chat", {"prompt": "start"})
        cid = (first.structured_content or {})["conversation_id"]
    # The turn is saved after its answer; the server's shutdown waits for that save, so it is there to overwrite.
    raw = redis_client.Redis.from_url(redis.url)
    raw.set(f"deepseek-mcp:c:{cid}", "written by someone else")
    raw.close()
    async with connect(settings) as client:
        with anyio.fail_after(30):
            broken = await client.call_tool("chat", {"prompt": "go on", "conversation_id": cid})
    assert broken.is_error
    assert "bug" not in _text(broken) and "DEEPSEEK_MCP_STATE" in _text(broken), _text(broken)


async def test_a_conversation_row_of_wrong_types_in_sqlite_gets_an_error_naming_the_store_not_a_crash(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    path = tmp_path / "state.db"
    settings = make_settings(deepseek, env={"DEEPSEEK_MCP_STATE": str(path)})
    async with connect(settings) as client:
        first = await client.call_tool("chat", {"prompt": "start"})
        cid = (first.structured_content or {})["conversation_id"]
        # A call on the conversation waits for the save that followed the first answer (this one is refused
        # upstream and saves nothing): the server then holds what it wrote, and reads it again only if changed.
        deepseek.script(Reply(status=400, error="bad request", error_type="invalid_request_error"))
        assert (await client.call_tool("chat", {"prompt": "more", "conversation_id": cid})).is_error
        db = sqlite3.connect(path)
        db.execute("UPDATE conversations SET body = ? WHERE id = ?", ('{"system": 5, "turns": [7]}', cid))
        db.commit()
        db.close()
        with anyio.fail_after(30):
            broken = await client.call_tool("chat", {"prompt": "go on", "conversation_id": cid})
    assert broken.is_error
    assert "bug" not in _text(broken) and "DEEPSEEK_MCP_STATE" in _text(broken), _text(broken)


# --- the budget ----------------------------------------------------------------------------------------------------


async def test_a_call_stopped_mid_answer_at_the_deadline_still_counts_against_the_budget(
    deepseek: FakeUpstream,
) -> None:
    # The prompt was sent and the provider was generating (and billing) when the call deadline stopped it: the
    # hold is released and nothing is recorded, so calls that run out of time spend without limit.
    env = {"DEEPSEEK_MCP_DAILY_BUDGET": "5", "DEEPSEEK_MCP_MAX_CALL_SECONDS": "1"}
    async with connect(make_settings(deepseek, env=env)) as client:
        for _ in range(3):
            deepseek.script(Reply(content="word " * 2000, token_delay=0.01))
            with anyio.fail_after(30):
                stopped = await client.call_tool("reason", {"prompt": "a long answer " * 2000})
            assert stopped.is_error and "took longer than" in _text(stopped)
        shown = await client.call_tool("balance", {})
    today = (shown.structured_content or {})["spent"]["today"]
    assert len(deepseek.chat_requests()) == 3
    assert today["calls"] >= 3 and today["usd"] > 0, f"3 paid requests reached the provider; recorded: {today}"


# --- the Redis password ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "redis://:s3cr/etPASSWORDvalue@127.0.0.1:6379/0",  # a base64 password with a '/', not percent-encoded
        "redis://default:Xy+9/PASSWORDvalue@cache:6379/0",
    ],
)
def test_a_redis_password_with_a_slash_never_appears_in_the_state_error(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"DEEPSEEK_MCP_STATE": url})
    assert "PASSWORDvalue" not in str(caught.value), str(caught.value)


def test_a_redis_password_whose_first_part_is_digits_never_appears_in_the_stores_name() -> None:
    # "1234/PASSWORDvalue" parses as host `u`, port 1234, path "/PASSWORDvalue@cache:6379/0": accepted, and the
    # store's name (doctor, every store error, `balance` to every HTTP caller) prints the rest of the password.
    from mcp_server.state import open_store

    try:
        settings = Settings.from_env({"DEEPSEEK_MCP_STATE": "redis://u:1234/PASSWORDvalue@cache:6379/0"})
    except ConfigError as exc:
        shown = str(exc)  # refusing the URL is a fix too, if the refusal does not print it
    else:
        shown = open_store(settings).name
    assert "PASSWORDvalue" not in shown, shown


def test_the_settings_repr_never_shows_the_redis_password() -> None:
    # The API keys are hidden from repr(Settings); the state URL's password is not.
    settings = Settings.from_env({"DEEPSEEK_MCP_STATE": f"redis://:hunter2-{os.getpid()}@127.0.0.1:6379/0"})
    assert "hunter2" not in repr(settings)


# --- eviction -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["memory", "sqlite", "redis"])
async def test_the_largest_holder_saving_its_one_big_conversation_cannot_wipe_out_another_owners(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # Past the global byte bound "the owner holding the most loses its oldest": but when its only conversation is
    # the one being saved, every backend falls back to anyone's oldest, and keeps dropping other owners' until the
    # bound holds. One save by the largest holder empties the victim.
    from mcp_server.state import open_store

    if backend == "redis":
        import redis as redis_client

        server: RedisServer = request.getfixturevalue("redis")
        redis_client.Redis.from_url(server.url).flushall()
        spec = server.url
    else:
        spec = "memory" if backend == "memory" else str(tmp_path / "state.db")
    limits = Limits(conversations_total_bytes=100, owner_conversations_bytes=100, conversation_bytes=100)
    store = open_store(Settings(limits=limits, state=spec))
    try:
        for n in range(5):
            await store.save(Record(f"victim{n}", "victim", 10, 1000.0 + n, "v" * 10))
        await store.save(Record("big", "attacker", 95, 2000.0, "a" * 95))
        kept = [n for n in range(5) if await store.load(f"victim{n}", 2001.0) is not None]
    finally:
        await store.aclose()
    assert len(kept) >= 4, f"the victim kept {len(kept)} of 5 conversations after one save by the largest holder"


# --- key fragments in successful results ------------------------------------------------------------------------------


async def test_a_key_fragment_in_a_successful_answer_is_redacted(deepseek: FakeUpstream) -> None:
    # Errors, logs and notices are redacted; a successful result (answer and reasoning blocks, structured content)
    # was passed through as the model wrote it. A fragment is a run of the key's body long enough to hold 64 bits
    # (16 of the test key's 20 hex digits); a shorter piece is left alone, or its echo would teach it (issue 24).
    fragment = deepseek.api_key[10:-2]  # `DEEPSEEK-` and 18 of the body's hex digits
    deepseek.script(Reply(content=f"the key is {fragment}", reasoning=f"I saw {deepseek.api_key}"))
    async with connect(make_settings(deepseek)) as client:
        with anyio.fail_after(30):
            result = await client.call_tool("reason", {"prompt": "repeat what you were given"})
    assert not result.is_error
    dumped = result.model_dump_json()
    assert fragment[-16:] not in dumped and deepseek.api_key not in dumped, "a run of a key came back in a result"


async def test_a_caller_cannot_spend_past_the_daily_budget_by_naming_a_model_with_no_price(
    deepseek: FakeUpstream, atlas: FakeUpstream
) -> None:
    # Atlas Cloud bills for every model, but pricing.py has no Atlas price: any caller (any HTTP token) that names
    # `atlas:<model>` is never refused by either limit and adds $0, so the daily budget of $0.000001 lets
    # unlimited paid requests through.
    from tests.fake_upstream import ATLAS_MODELS

    env = {"DEEPSEEK_MCP_DAILY_BUDGET": "0.000001", "DEEPSEEK_MCP_MAX_COST_PER_CALL": "0.0000005"}
    async with connect(make_settings(deepseek, atlas, env=env)) as client:
        for _ in range(3):
            with anyio.fail_after(30):
                await client.call_tool("chat", {"prompt": "x" * 50_000, "model": f"atlas:{ATLAS_MODELS[0]}"})
        shown = await client.call_tool("balance", {})
    today = (shown.structured_content or {})["spent"]["today"]
    sent = len(atlas.chat_requests())
    assert sent <= 1 or today["usd"] > 0.000001, f"{sent} paid requests of 50,000 characters passed a $0.000001 budget"


# --- the call deadline -----------------------------------------------------------------------------------------------


async def test_a_process_holding_the_state_files_opening_lock_cannot_hold_a_call_past_its_deadline(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    # Opening the SQLite file waits on a byte of the .locks file with a blocking lockf and no timeout, on a worker
    # thread the call's deadline cannot cancel: a process stopped while opening (Ctrl-Z, a debugger, a hung NFS)
    # holds every server on that file past DEEPSEEK_MCP_MAX_CALL_SECONDS, for good.
    import subprocess
    import sys

    from mcp_server.state import file_locks

    path = tmp_path / "state.db"
    locks = tmp_path / "state.db.locks"
    holder_code = (
        "import fcntl, os, sys\n"
        f"fd = os.open({str(locks)!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
        f"fcntl.lockf(fd, fcntl.LOCK_EX, 1, {file_locks.INIT_BYTE})\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()\n"
    )
    holder = subprocess.Popen(  # noqa: S603, ASYNC220 - a plain child that only holds a lock
        [sys.executable, "-c", holder_code], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
    env = {"DEEPSEEK_MCP_STATE": str(path), "DEEPSEEK_MCP_MAX_CALL_SECONDS": "1"}
    returned = anyio.Event()
    late = False

    async def watchdog() -> None:
        nonlocal late
        with anyio.move_on_after(8):
            await returned.wait()
        late = not returned.is_set()
        holder.kill()  # frees the lock, so the stuck thread, the call and this test can end
        holder.wait()

    try:
        async with connect(make_settings(deepseek, env=env)) as client, anyio.create_task_group() as tg:
            tg.start_soon(watchdog)
            with anyio.fail_after(60):
                await client.call_tool("chat", {"prompt": "hello"})
            returned.set()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        for pipe in (holder.stdin, holder.stdout):
            if pipe is not None:
                pipe.close()
    assert not late, "the call was still running 8 s after its 1 s deadline"


# --- one token learning about another's ------------------------------------------------------------------------------


async def test_another_tokens_conversation_id_is_refused_at_once_not_after_its_owners_call(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    # The conversation's lock is taken before its owner is checked: Bob, naming Alice's id, waits until Alice's
    # call ends and only then hears "unknown", while a truly unknown id is refused at once. The wait says the id
    # exists and is in use right now (and Bob's calls queue in Alice's way).
    from tests.conftest import upstream_env
    from tests.test_http_and_cli import ALICE, BOB, http_server
    from tests.test_state_servers import _client

    env = {
        **upstream_env(deepseek),
        "DEEPSEEK_MCP_HTTP_TOKEN": f"{ALICE},{BOB}",
        "DEEPSEEK_MCP_STATE": str(tmp_path / "state.db"),
    }
    with http_server(env) as url:
        async with _client(url, ALICE) as alice, _client(url, BOB) as bob:
            first = await alice.call_tool("chat", {"prompt": "start"})
            convo = (first.structured_content or {})["conversation_id"]
            deepseek.script(Reply(content="a slow answer " * 10, token_delay=0.2))
            order: list[str] = []

            async def ask_alice() -> None:
                await alice.call_tool("chat", {"prompt": "go on", "conversation_id": convo})
                order.append("alice")

            async def ask_bob() -> None:
                result = await bob.call_tool("chat", {"prompt": "peek", "conversation_id": convo})
                assert result.is_error and "unknown or has expired" in _text(result)
                order.append("bob")

            with anyio.fail_after(60):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(ask_alice)
                    ok = await anyio.to_thread.run_sync(deepseek.wait_for, lambda f: len(f.chat_requests()) >= 2, 10.0)
                    assert ok
                    tg.start_soon(ask_bob)
    assert order == ["bob", "alice"], "Bob's refusal waited for Alice's call on her conversation"
