"""The shared backend: Redis or Valkey (DEEPSEEK_MCP_STATE=redis://... or rediss://...), for replicas.

What Redis gives is used as it is: a conversation is a key whose TTL is the idle bound, spending is counted with
HINCRBYFLOAT/INCRBYFLOAT, a conversation's lock is redis-py's `Lock` (SET NX PX, released by a token-checked
script) with a timeout that a live holder renews, so a crashed holder's lock expires within `LOCK_SECONDS`. The two
steps that must decide on counts (saving with eviction, and adding a budget hold) are server-side Lua scripts, so
they are atomic across replicas. The URL's password is a secret: `name` and every error show the URL without it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

import anyio
from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import LockError, RedisError

from mcp_server.core.config import STATE_ENV, public_url
from mcp_server.state.base import HOLD_SECONDS, SPENDING_DAYS, Bounds, Record, Spent, StoreError

PREFIX = "deepseek-mcp:"
LOCK_SECONDS = 30.0  # a crashed holder's conversation lock expires after this; a live holder renews it
_T = TypeVar("_T")

# ARGV: prefix, id, owner, size, touched, body, idle ms, count, total bytes, owner count, owner bytes
_SAVE = """
local p, id, owner, size, touched, body = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local idle_ms, count, total = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local owner_count, owner_bytes = tonumber(ARGV[10]), tonumber(ARGV[11])
local function drop(cid)
  local o = redis.call('HGET', p..'owner', cid)
  local s = tonumber(redis.call('HGET', p..'size', cid) or '0')
  redis.call('DEL', p..'c:'..cid)
  redis.call('ZREM', p..'lru', cid)
  redis.call('HDEL', p..'size', cid)
  redis.call('HDEL', p..'owner', cid)
  redis.call('DECRBY', p..'bytes', s)
  if o then
    redis.call('ZREM', p..'lru:'..o, cid)
    redis.call('HINCRBY', p..'obytes', o, -s)
    if redis.call('ZCARD', p..'lru:'..o) == 0 then redis.call('HDEL', p..'obytes', o) end
  end
end
local function oldest(o)
  for _, cid in ipairs(redis.call('ZRANGE', p..'lru:'..o, 0, 1)) do if cid ~= id then return cid end end
end
local function put(cid, o, s, t, b, ttl)
  redis.call('SET', p..'c:'..cid, b, 'PX', ttl)
  redis.call('ZADD', p..'lru', t, cid)
  redis.call('ZADD', p..'lru:'..o, t, cid)
  redis.call('HSET', p..'size', cid, s)
  redis.call('HSET', p..'owner', cid, o)
  redis.call('HINCRBY', p..'obytes', o, s)
  redis.call('INCRBY', p..'bytes', s)
end
for _, cid in ipairs(redis.call('ZRANGEBYSCORE', p..'lru', '-inf', '(' .. (touched - idle_ms / 1000))) do drop(cid) end
local was = redis.call('GET', p..'c:'..id)
local was_owner, was_size = redis.call('HGET', p..'owner', id), redis.call('HGET', p..'size', id)
local was_touched, was_ttl = redis.call('ZSCORE', p..'lru', id), redis.call('PTTL', p..'c:'..id)
drop(id)
put(id, owner, size, touched, body, idle_ms)
while true do
  local n = redis.call('ZCARD', p..'lru:'..owner)
  local b = tonumber(redis.call('HGET', p..'obytes', owner) or '0')
  if not (n > owner_count or (b > owner_bytes and n > 1)) then break end
  drop(oldest(owner))
end
while true do
  local n = redis.call('ZCARD', p..'lru')
  local b = tonumber(redis.call('GET', p..'bytes') or '0')
  if not (n > count or (b > total and n > 1)) then break end
  local largest, most = owner, -1
  for _, o in ipairs(redis.call('HKEYS', p..'obytes')) do
    local m
    if n > count then m = redis.call('ZCARD', p..'lru:'..o) else m = tonumber(redis.call('HGET', p..'obytes', o)) end
    if m > most then largest, most = o, m end
  end
  local victim = oldest(largest)
  if not victim then
    -- the saver holds the most and only this: never push out the others'; put back what was there
    drop(id)
    if was and was_owner and was_size and was_touched and was_ttl > 0 then
      put(id, was_owner, tonumber(was_size), tonumber(was_touched), was, was_ttl)
    end
    return 0
  end
  drop(victim)
end
return 1
"""

# ARGV: prefix, owner, day, tool, usd, saved, hold id ("" for none), key seconds. One round trip, one atomic step.
_SPEND = r"""
local p, owner, day, tool, usd, saved, hid, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local tablekey, spent = p..'spend:'..owner..':'..day, p..'spent:'..owner..':'..day
redis.call('HINCRBYFLOAT', tablekey, tool..'\nusd', usd)
redis.call('HINCRBYFLOAT', tablekey, tool..'\nsaved', saved)
redis.call('HINCRBY', tablekey, tool..'\ncalls', 1)
redis.call('INCRBYFLOAT', spent, usd)
redis.call('EXPIRE', tablekey, ttl)
redis.call('EXPIRE', spent, ttl)
if hid ~= '' then
  redis.call('HDEL', p..'holds:'..owner..':'..day, hid)
  redis.call('ZREM', p..'hexp:'..owner..':'..day, hid)
end
"""

# ARGV: prefix, owner, day, hold id, usd, limit, now, hold seconds, key seconds. Returns nil when held.
_HOLD = """
local p, owner, day, hid = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local usd, limit, now = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local holds, expiry, spent = p..'holds:'..owner..':'..day, p..'hexp:'..owner..':'..day, p..'spent:'..owner..':'..day
for _, h in ipairs(redis.call('ZRANGEBYSCORE', expiry, '-inf', '(' .. now)) do
  redis.call('HDEL', holds, h)
  redis.call('ZREM', expiry, h)
end
local already = tonumber(redis.call('GET', spent) or '0')
for _, v in ipairs(redis.call('HVALS', holds)) do already = already + tonumber(v) end
if already + usd > limit then return tostring(already) end
redis.call('HSET', holds, hid, usd)
redis.call('ZADD', expiry, now + tonumber(ARGV[8]), hid)
redis.call('EXPIRE', holds, ARGV[9])
redis.call('EXPIRE', expiry, ARGV[9])
return false
"""


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
        self._save = self._redis.register_script(_SAVE)
        self._hold = self._redis.register_script(_HOLD)
        self._spend = self._redis.register_script(_SPEND)

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
            raise self._foreign(conversation_id, f"{length:,} bytes, over the bound of what one conversation holds")
        body = await self._do(self._redis.get(key))
        if body is None:
            return None
        try:
            owner, size, touched, rest = str(body).split("\n", 3)
            record = Record(conversation_id, owner, int(size), float(touched), rest)
        except ValueError:
            raise self._foreign(conversation_id, "not in the shape this server writes") from None
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
        b = self._bounds
        body = f"{record.owner}\n{record.size}\n{record.touched!r}\n{record.body}"
        args: list[str | int] = [PREFIX, record.id, record.owner, record.size, repr(record.touched), body]
        args += [int(b.idle_seconds * 1000), b.count, b.total_bytes, b.owner_count, b.owner_bytes]
        return bool(await self._do(self._save(args=args)))

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
        args: list[str | int] = [PREFIX, owner, day, tool, repr(usd), repr(saved), hold_id or "", SPENDING_DAYS * 86400]
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
