"""The Lua scripts of the Redis store: each is one round trip and one atomic step across every replica."""

# Records the costs given from ARGV[first] on: the key seconds, then owner, day, tool, usd, saved for each (as SPEND
# does with no hold), so that a call's costs and its save after the answer are one round trip.
_COSTS = r"""
local function record_costs(p, first)
  local ttl = ARGV[first]
  for i = first + 1, #ARGV, 5 do
    local owner, day, tool, usd, saved = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
    local tablekey, spent = p..'spend:'..owner..':'..day, p..'spent:'..owner..':'..day
    redis.call('HINCRBYFLOAT', tablekey, tool..'\nusd', usd)
    redis.call('HINCRBYFLOAT', tablekey, tool..'\nsaved', saved)
    redis.call('HINCRBY', tablekey, tool..'\ncalls', 1)
    redis.call('INCRBYFLOAT', spent, usd)
    redis.call('EXPIRE', tablekey, ttl)
    redis.call('EXPIRE', spent, ttl)
  end
end
"""

# ARGV: prefix, id, owner, size, touched, body, idle ms, count, total bytes, owner count, owner bytes, the value of
# the conversation's lock to free after saving ("" for none), then costs as `record_costs` reads them from ARGV[13]
# (none: just the key seconds). Returns 1 when saved, 0 when not kept; the costs are recorded either way.
SAVE = (
    _COSTS
    + """
local p, id, owner, size, touched, body = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local idle_ms, count, total = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local owner_count, owner_bytes, mine = tonumber(ARGV[10]), tonumber(ARGV[11]), ARGV[12]
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
local function save()
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
end
record_costs(p, 13)
local kept = save()
if mine ~= '' and redis.call('GET', p..'lock:'..id) == mine then redis.call('DEL', p..'lock:'..id) end
return kept
"""
)

# ARGV: prefix, hold id ("" for none), key seconds, owner, day, tool, usd, saved. One round trip, one atomic step.
SPEND = (
    _COSTS
    + r"""
local p, hid, owner, day = ARGV[1], ARGV[2], ARGV[4], ARGV[5]
record_costs(p, 3)
if hid ~= '' then
  redis.call('HDEL', p..'holds:'..owner..':'..day, hid)
  redis.call('ZREM', p..'hexp:'..owner..':'..day, hid)
end
"""
)

# ARGV: prefix, owner, day, hold id, usd, limit, now, hold seconds, key seconds. Returns nil when held.
HOLD = """
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


# ARGV: prefix, id, owner, this claim's lock value, lock ms, the digest of the body the caller knows ("" for none),
# the largest value one conversation may be, and the oldest touched still kept. One round trip: the owner check, the
# lock and the read. Returns {"none"}, {"wait"}, {"big", length}, {"foreign"}, {"same"} or {"body", value}.
CLAIM = r"""
local p, id, owner, mine, ms = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local key, lock = p..'c:'..id, p..'lock:'..id
local length = redis.call('STRLEN', key)
if length > tonumber(ARGV[7]) then return {'big', length} end
local held = redis.call('GET', lock)
if length == 0 then
  -- unknown, or its first save is under way: only its owner waits for it
  if held and string.sub(held, 1, #owner + 1) == owner..'\n' then return {'wait'} end
  return {'none'}
end
local value = redis.call('GET', key)
local o, size, touched = string.match(value, '^([^\n]*)\n([^\n]*)\n([^\n]*)\n')
if not o then return {'foreign'} end
if o ~= owner or tonumber(touched) == nil or tonumber(touched) < tonumber(ARGV[8]) then return {'none'} end
if held then return {'wait'} end
redis.call('SET', lock, mine, 'PX', ms)
if ARGV[6] ~= '' and redis.sha1hex(string.sub(value, #o + #size + #touched + 4)) == ARGV[6] then return {'same'} end
return {'body', value}
"""

# ARGV: prefix, lock ms, then pairs of conversation id and this server's lock value. Renews the locks still held.
RENEW = """
for i = 3, #ARGV, 2 do
  local lock = ARGV[1]..'lock:'..ARGV[i]
  if redis.call('GET', lock) == ARGV[i + 1] then redis.call('PEXPIRE', lock, ARGV[2]) end
end
"""

# ARGV: prefix, id, this claim's lock value, then costs as `record_costs` reads them from ARGV[4]. Records the costs
# and frees the lock if it is still this claim's.
FREE = (
    _COSTS
    + """
record_costs(ARGV[1], 4)
local lock = ARGV[1]..'lock:'..ARGV[2]
if redis.call('GET', lock) == ARGV[3] then redis.call('DEL', lock) end
"""
)
