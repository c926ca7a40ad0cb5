"""The shared backend: Redis or Valkey (DEEPSEEK_MCP_STATE=redis://... or rediss://...), for replicas.

What Redis gives is used as it is: a conversation is a key whose TTL is the idle bound, spending is counted with
HINCRBYFLOAT/INCRBYFLOAT, a conversation's lock is a key set NX with a timeout that a live holder renews (its
value names the owner and the holder), so a crashed holder's lock expires within `LOCK_SECONDS`. A call on a
conversation costs two round trips: one script checks the owner, takes the lock and reads the conversation (the
body only if it is not the version this server wrote), one saves it with the eviction rule and frees the lock
(redis_scripts.py). Adding a budget hold is a script too, so every decision on counts is atomic across replicas.
The URL's password is a secret: `name` and every error show the URL without it.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

import anyio
from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import LockError, RedisError

from mcp_server.core.config import STATE_ENV, public_url
from mcp_server.state import redis_scripts
from mcp_server.state.base import HOLD_SECONDS, SPENDING_DAYS, Bounds, Claimed, Cost, Record, Spent, StoreError

PREFIX = "deepseek-mcp:"
LOCK_SECONDS = 30.0  # a crashed holder's conversation lock expires after this; a live holder renews it
_LOCK_POLL = 0.01  # seconds between tries while another call holds a conversation
_T = TypeVar("_T")


class RedisStore:
    """Conversations and spending in Redis or Valkey, shared by every replica that names the same URL."""

    def __init__(self, url: str, bounds: Bounds) -> None:
        self._name = public_url(url)
        self._password = urlsplit(url).password or ""
        self._bounds = bounds
        # Two quick retries (a restarted server, a dropped idle connection), then a clear error: a call must not
        # wait many seconds on a store that is down.
        self._redis = aioredis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=10,
            socket_connect_timeout=5,
            health_check_interval=30,
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2),
        )
        self._save = self._redis.register_script(redis_scripts.SAVE)
        self._hold = self._redis.register_script(redis_scripts.HOLD)
        self._spend = self._redis.register_script(redis_scripts.SPEND)
        self._claim = self._redis.register_script(redis_scripts.CLAIM)
        self._renew_claims = self._redis.register_script(redis_scripts.RENEW)
        self._free = self._redis.register_script(redis_scripts.FREE)
        self._claims: dict[str, str] = {}  # conversation id -> this server's lock value, renewed by keep_claims

    @property
    def name(self) -> str:
        return self._name

    async def _do(self, step: Awaitable[_T]) -> _T:
        try:
            return await step
        except RedisError as exc:
            text = str(exc)[:200].rstrip(". ")
            text = text.replace(self._password, "***") if self._password else text
            raise StoreError(
                f"the state store {self._name} ({STATE_ENV}) failed: {type(exc).__name__}: {text}. Start it or fix "
                f"{STATE_ENV}; calls that need no conversation or budget keep working"
            ) from None

    async def load(self, conversation_id: str, now: float) -> Record | None:
        key = f"{PREFIX}c:{conversation_id}"
        # Measured before it is read: a key written by something else may be any size.
        length = await self._do(self._redis.strlen(key))
        if length > self._bounds.owner_bytes + 1024:
            raise self._foreign(conversation_id, _too_big(length))
        body = await self._do(self._redis.get(key))
        if body is None:
            return None
        record = self._record(conversation_id, body)
        if record.touched < now - self._bounds.idle_seconds:
            return None
        return record

    def _foreign(self, conversation_id: str, what: str) -> StoreError:
        return StoreError(
            f"the conversation {conversation_id!r} in the state store {self._name} is {what} (written by another "
            f"program or version, or damaged); start a new conversation, or point {STATE_ENV} at a store only "
            "deepseek-mcp writes"
        )

    async def save(self, record: Record) -> bool:
        return await self._saved(record, "")

    async def _saved(self, record: Record, lock_value: str, costs: list[str | int] | None = None) -> bool:
        b = self._bounds
        body = f"{record.owner}\n{record.size}\n{record.touched!r}\n{record.body}"
        args: list[str | int] = [PREFIX, record.id, record.owner, record.size, repr(record.touched), body]
        args += [int(b.idle_seconds * 1000), b.count, b.total_bytes, b.owner_count, b.owner_bytes, lock_value]
        return bool(await self._do(self._save(args=[*args, *(costs or [SPENDING_DAYS * 86400])])))

    async def claim(self, conversation_id: str, owner: str, now: float, known: str | None) -> Claimed | None:
        mine = f"{owner}\n{secrets.token_hex(8)}"
        args: list[str | int] = [PREFIX, conversation_id, owner, mine, int(LOCK_SECONDS * 1000), known or ""]
        args += [self._bounds.owner_bytes + 1024, repr(now - self._bounds.idle_seconds)]
        while True:
            # Shielded: a lock taken by a reply that a cancelled call never read would hold the conversation until
            # its timeout.
            with anyio.CancelScope(shield=True):
                reply = await self._do(self._claim(args=args))
            kind = reply[0]
            if kind != "wait":
                break
            await anyio.sleep(_LOCK_POLL)
        if kind == "none":
            return None
        if kind == "big":
            raise self._foreign(conversation_id, _too_big(int(reply[1])))
        if kind == "foreign":
            raise self._foreign(conversation_id, "not in the shape this server writes")
        self._claims[conversation_id] = mine
        if kind == "same":
            return Claimed(conversation_id, mine)
        try:
            record = self._record(conversation_id, reply[1])
        except StoreError:
            await self.unclaim(Claimed(conversation_id, mine), None)
            raise
        return Claimed(conversation_id, mine, record)

    def _record(self, conversation_id: str, value: str | bytes) -> Record:
        try:
            owner, size, touched, rest = str(value).split("\n", 3)
            return Record(conversation_id, owner, int(size), float(touched), rest)
        except ValueError:
            raise self._foreign(conversation_id, "not in the shape this server writes") from None

    async def claim_new(self, conversation_id: str, owner: str) -> Claimed:
        mine = f"{owner}\n{secrets.token_hex(8)}"
        key = f"{PREFIX}lock:{conversation_id}"
        while True:
            with anyio.CancelScope(shield=True):
                taken = await self._do(self._redis.set(key, mine, nx=True, px=int(LOCK_SECONDS * 1000)))
            if taken:
                self._claims[conversation_id] = mine
                return Claimed(conversation_id, mine)
            await anyio.sleep(_LOCK_POLL)

    async def unclaim(self, claimed: Claimed, record: Record | None, costs: Sequence[Cost] = ()) -> bool:
        self._claims.pop(claimed.id, None)  # not renewed any more: if freeing fails, its timeout frees it
        recorded: list[str | int] = [SPENDING_DAYS * 86400]
        for cost in costs:
            recorded += [cost.owner, cost.day, cost.tool, repr(cost.usd), repr(cost.saved)]
        if record is not None:
            return await self._saved(record, claimed.token, recorded)
        await self._do(self._free(args=[PREFIX, claimed.id, claimed.token, *recorded]))
        return True

    async def keep_claims(self) -> None:
        while True:
            await anyio.sleep(LOCK_SECONDS / 3)
            if not self._claims:
                continue
            pairs = [item for pair in self._claims.items() for item in pair]
            with contextlib.suppress(StoreError):  # unreachable: the calls' own steps say so
                await self._do(self._renew_claims(args=[PREFIX, int(LOCK_SECONDS * 1000), *pairs]))

    @asynccontextmanager
    async def lock(self, conversation_id: str) -> AsyncIterator[None]:
        lock = self._redis.lock(f"{PREFIX}lock:{conversation_id}", timeout=LOCK_SECONDS, sleep=0.01)
        await self._do(lock.acquire())
        failed: BaseException | None = None
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._renew, lock)
                try:
                    yield
                except BaseException as exc:  # re-raised below as it is, not inside the task group's ExceptionGroup
                    failed = exc
                finally:
                    tg.cancel_scope.cancel()
            if failed is not None:
                raise failed
        finally:
            with contextlib.suppress(LockError, RedisError):  # expired or unreachable: its own timeout frees it
                await lock.release()

    async def _renew(self, lock: Any) -> None:
        while True:
            await anyio.sleep(LOCK_SECONDS / 3)
            try:
                await lock.reacquire()
            except (LockError, RedisError):
                return  # the call goes on; the lock expires by its timeout at worst

    async def hold(self, owner: str, day: str, hold_id: str, usd: float, limit: float, now: float) -> float | None:
        args: list[str | int] = [PREFIX, owner, day, hold_id, repr(usd), repr(limit), repr(now), int(HOLD_SECONDS)]
        found = await self._do(self._hold(args=[*args, SPENDING_DAYS * 86400]))
        return None if found is None else float(found)

    async def spend(self, owner: str, day: str, tool: str, usd: float, saved: float, hold_id: str | None) -> None:
        args: list[str | int] = [PREFIX, hold_id or "", SPENDING_DAYS * 86400, owner, day, tool, repr(usd), repr(saved)]
        await self._do(self._spend(args=args))

    async def release(self, owner: str, day: str, hold_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(f"{PREFIX}holds:{owner}:{day}", hold_id)
            pipe.zrem(f"{PREFIX}hexp:{owner}:{day}", hold_id)
            await self._do(pipe.execute())

    async def spent(self, owner: str, days: list[str]) -> list[Spent]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for day in days:
                pipe.hgetall(f"{PREFIX}spend:{owner}:{day}")
            tables = await self._do(pipe.execute())
        found: list[Spent] = []
        for day, table in zip(days, tables, strict=True):
            tools = {field.partition("\n")[0] for field in table}
            for tool in sorted(tools):
                usd, saved, calls = (table.get(f"{tool}\n{k}", "0") for k in ("usd", "saved", "calls"))
                found.append(Spent(day, tool, float(usd), float(saved), int(calls)))
        return found

    async def stats(self) -> tuple[int, int]:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zcard(f"{PREFIX}lru")
            pipe.get(f"{PREFIX}bytes")
            count, size = await self._do(pipe.execute())
        return int(count), int(size or 0)

    async def aclose(self) -> None:
        await self._redis.aclose()


def _too_big(length: int) -> str:
    return f"{length:,} bytes, over the bound of what one conversation holds"
