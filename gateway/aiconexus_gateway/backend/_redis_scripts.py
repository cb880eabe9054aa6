r"""Lua scripts of the Redis backend: each one is a single atomic round trip.

Key layout (``P`` is the key prefix, ``aiconexus:`` by default):

``P node:<node>``          liveness key of a node (value: its incarnation, random per start),
                           expires after PRESENCE_TTL
``P nodes``                set of node ids that announced themselves (for the sweeper)
``P ch:<node>``            pub/sub channel of a node (frames, replacements, store notices)
``P presence``             pub/sub channel of every node: DIDs whose owner changed (caches)
``P owner``                hash DID -> ``<node>\n<session>`` of the live session
``P agent``                hash DID -> JSON :class:`AgentRecord`
``P cap:<capability>``     set of DIDs announcing the capability
``P dids``                 sorted set of every present DID (all scores 0: ordered by DID, so a
                           page of ``GET /agents`` is one ``ZRANGEBYLEX``)
``P capdids:<capability>`` sorted set (scores 0) of the DIDs announcing the capability
``P node_agents:<node>``   set of DIDs whose session lives on the node
``P seen:<digest>``        replay marker of (sender, id), digest = 16 bytes of BLAKE2b; lives
                           for the replay window; ``P<node>\n<incarnation>`` while the
                           accepting node hands the frame on, ``D`` once published/stored
``P store:<did>``          list of entries, oldest first:
                           ``<stored_at_ms>:<bytes>:<unseen 0|1>:<len(sender)>:<sender><frame>``
                           (entries of older versions: ``<stored_at_ms>:<frame>``)
``P store_due``            sorted set: DID with stored frames -> stored_at_ms of its oldest
``P store_total``          number of stored frames in all
``P store_bytes``          bytes of the stored frames in all
``P store_unseen_bytes``   bytes stored for recipients that never registered
``P store_agent_bytes``    hash DID -> bytes stored for it
``P store_sender``         hash sender DID -> frames stored from it
``P store_sender_bytes``   hash sender DID -> bytes stored from it
``P seen_agents``          sorted set: DID that registered -> when (ms), at most STORE_SEEN_MAX
``P held:<did>``           list of entries taken from ``store:<did>`` for a session with
                           recipient acknowledgements, until acknowledged (same format; they
                           no longer count in the store's totals and bounds); expires after
                           the store's age limit

The scripts build key names from the prefix, so they need one Redis server (or a primary
with replicas), not Redis Cluster.
"""

from __future__ import annotations

__all__ = [
    "CLAIM",
    "FIRST_SEEN",
    "FORGET",
    "OWNER",
    "RELEASE",
    "REFRESH",
    "SEND",
    "STORE",
    "SWEEP_NODE",
    "TAKE",
    "TRIM",
    "HEARTBEAT",
    "LIST",
    "HOLD",
    "SETTLE",
    "UNHOLD",
]

_COMMON = """
local function node_of(owner)
  local i = string.find(owner, '\\n', 1, true)
  if not i then return owner end
  return string.sub(owner, 1, i - 1)
end

local function drop_agent(p, did, owner)
  local rec = redis.call('HGET', p .. 'agent', did)
  if rec then
    local ok, r = pcall(cjson.decode, rec)
    if ok and type(r) == 'table' and type(r.capabilities) == 'table' then
      for _, c in ipairs(r.capabilities) do
        redis.call('SREM', p .. 'cap:' .. c, did)
        redis.call('ZREM', p .. 'capdids:' .. c, did)
      end
    end
  end
  redis.call('ZREM', p .. 'dids', did)
  redis.call('HDEL', p .. 'owner', did)
  redis.call('HDEL', p .. 'agent', did)
  if owner then redis.call('SREM', p .. 'node_agents:' .. node_of(owner), did) end
end

local function live_owner(p, did)
  local owner = redis.call('HGET', p .. 'owner', did)
  if not owner then return false end
  if redis.call('EXISTS', p .. 'node:' .. node_of(owner)) == 0 then return false end
  return owner
end

-- true while the given incarnation of the node runs and listens on its channel
local function incarnation_alive(p, node, incarnation)
  if redis.call('GET', p .. 'node:' .. node) ~= incarnation then return false end
  return redis.call('PUBSUB', 'NUMSUB', p .. 'ch:' .. node)[2] > 0
end

local function mark_handed_on(p, seen)
  if seen ~= '' then redis.call('SET', p .. 'seen:' .. seen, 'D', 'XX', 'KEEPTTL') end
end

-- an entry of a store list -> stored_at_ms, bytes, unseen ('0'/'1'), sender (0, '0', '' for
-- entries written by older versions: they count only as frames)
local function parse_entry(entry)
  local a = string.find(entry, ':', 1, true)
  if not a then return nil, 0, '0', '' end
  local ts = tonumber(string.sub(entry, 1, a - 1))
  local b = string.find(entry, ':', a + 1, true)
  local size = b and tonumber(string.sub(entry, a + 1, b - 1))
  if not size then return ts, 0, '0', '' end
  local c = string.find(entry, ':', b + 1, true)
  local d = c and string.find(entry, ':', c + 1, true)
  if not d then return ts, 0, '0', '' end
  local n = tonumber(string.sub(entry, c + 1, d - 1)) or 0
  return ts, size, string.sub(entry, b + 1, c - 1), string.sub(entry, d + 1, d + n)
end

-- stop counting the bytes of one entry leaving the list of did (frames are counted apart)
local function uncount(p, did, entry)
  local _, size, unseen, sender = parse_entry(entry)
  if size <= 0 then return end
  redis.call('DECRBY', p .. 'store_bytes', size)
  if unseen == '1' then redis.call('DECRBY', p .. 'store_unseen_bytes', size) end
  if redis.call('HINCRBY', p .. 'store_agent_bytes', did, -size) <= 0 then
    redis.call('HDEL', p .. 'store_agent_bytes', did)
  end
  if redis.call('HINCRBY', p .. 'store_sender', sender, -1) <= 0 then
    redis.call('HDEL', p .. 'store_sender', sender)
    redis.call('HDEL', p .. 'store_sender_bytes', sender)
  else
    redis.call('HINCRBY', p .. 'store_sender_bytes', sender, -size)
  end
end

-- count the bytes of one entry coming back to the list of did (frames are counted apart)
local function count(p, did, entry)
  local _, size, unseen, sender = parse_entry(entry)
  if size <= 0 then return end
  redis.call('INCRBY', p .. 'store_bytes', size)
  if unseen == '1' then redis.call('INCRBY', p .. 'store_unseen_bytes', size) end
  redis.call('HINCRBY', p .. 'store_agent_bytes', did, size)
  redis.call('HINCRBY', p .. 'store_sender', sender, 1)
  redis.call('HINCRBY', p .. 'store_sender_bytes', sender, size)
end

-- remember did as registered (at most seen_max DIDs, 0 = no limit)
local function remember_seen(p, did, now, seen_max)
  local seen = p .. 'seen_agents'
  redis.call('ZADD', seen, now, did)
  if seen_max > 0 then
    local extra = redis.call('ZCARD', seen) - seen_max
    if extra > 0 then redis.call('ZREMRANGEBYRANK', seen, 0, extra - 1) end
  end
end

local function trim(p, did, now, ttl)
  local k = p .. 'store:' .. did
  local n = 0
  local head_ts = false
  while true do
    local head = redis.call('LINDEX', k, 0)
    if not head then break end
    local ts = parse_entry(head)
    if ts and now - ts <= ttl then
      head_ts = ts
      break
    end
    redis.call('LPOP', k)
    uncount(p, did, head)
    n = n + 1
  end
  if n > 0 then redis.call('DECRBY', p .. 'store_total', n) end
  if head_ts then
    redis.call('ZADD', p .. 'store_due', head_ts, did)
  else
    redis.call('ZREM', p .. 'store_due', did)
  end
  return n
end
"""

CLAIM = (
    _COMMON
    + """
-- ARGV: prefix, did, node, session, record_json, capabilities... -> {1, superseded owner}
local p, did, node, sess, rec = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local mine = node .. '\\n' .. sess
local old = redis.call('HGET', p .. 'owner', did)
if old then drop_agent(p, did, old) end
redis.call('HSET', p .. 'owner', did, mine)
redis.call('HSET', p .. 'agent', did, rec)
redis.call('SADD', p .. 'node_agents:' .. node, did)
redis.call('ZADD', p .. 'dids', 0, did)
for i = 6, #ARGV do
  redis.call('SADD', p .. 'cap:' .. ARGV[i], did)
  redis.call('ZADD', p .. 'capdids:' .. ARGV[i], 0, did)
end
redis.call('PUBLISH', p .. 'presence', did)
if old and old ~= mine then return {1, old} end
return {1, false}
"""
)

RELEASE = (
    _COMMON
    + """
-- ARGV: prefix, did, node, session
local p, did = ARGV[1], ARGV[2]
local mine = ARGV[3] .. '\\n' .. ARGV[4]
if redis.call('HGET', p .. 'owner', did) ~= mine then return 0 end
drop_agent(p, did, mine)
redis.call('PUBLISH', p .. 'presence', did)
return 1
"""
)

REFRESH = """
-- ARGV: prefix, node, then (did, session, record_json) triples
-- Updates this node's records; re-creates presence lost e.g. when Redis restarted empty.
local p, node = ARGV[1], ARGV[2]
local restored = 0
for i = 3, #ARGV, 3 do
  local did, sess, rec = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local mine = node .. '\\n' .. sess
  local owner = redis.call('HGET', p .. 'owner', did)
  if owner == mine then
    redis.call('HSET', p .. 'agent', did, rec)
  elseif not owner then
    redis.call('HSET', p .. 'owner', did, mine)
    redis.call('HSET', p .. 'agent', did, rec)
    redis.call('SADD', p .. 'node_agents:' .. node, did)
    redis.call('ZADD', p .. 'dids', 0, did)
    local ok, r = pcall(cjson.decode, rec)
    if ok and type(r) == 'table' and type(r.capabilities) == 'table' then
      for _, c in ipairs(r.capabilities) do
        redis.call('SADD', p .. 'cap:' .. c, did)
        redis.call('ZADD', p .. 'capdids:' .. c, 0, did)
      end
    end
    restored = restored + 1
  end
end
return restored
"""

OWNER = (
    _COMMON
    + """
-- ARGV: prefix, did -> record JSON of the live session, or nil
local p, did = ARGV[1], ARGV[2]
if not live_owner(p, did) then return false end
return redis.call('HGET', p .. 'agent', did)
"""
)

FIRST_SEEN = (
    _COMMON
    + """
-- ARGV: prefix, sender:id, node, incarnation, window_ms -> 1 if new, 0 if a replay
-- A marker still pending on a node incarnation that is gone (killed, or restarted since) does
-- not count: it died before handing the frame on, so a resent copy must be accepted.
local p, seen, node, incarnation = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local mine = node .. '\\n' .. incarnation
local k = p .. 'seen:' .. seen
local cur = redis.call('GET', k)
if cur then
  if string.sub(cur, 1, 1) ~= 'P' then return 0 end
  local holder = string.sub(cur, 2)
  if holder == mine then return 0 end
  local i = string.find(holder, '\\n', 1, true)
  if i and incarnation_alive(p, string.sub(holder, 1, i - 1), string.sub(holder, i + 1)) then
    return 0
  end
end
redis.call('SET', k, 'P' .. mine, 'PX', ARGV[5])
return 1
"""
)

FORGET = """
-- ARGV: prefix, sender:id, node, incarnation -> 1 if the marker was deleted
-- Only a marker still pending on the calling node goes: one marked handed on ('D') stays, so
-- a frame stored by a command that timed out (and ran later) is never accepted twice.
local k = ARGV[1] .. 'seen:' .. ARGV[2]
if redis.call('GET', k) == 'P' .. ARGV[3] .. '\\n' .. ARGV[4] then
  redis.call('DEL', k)
  return 1
end
return 0
"""

SEND = (
    _COMMON
    + """
-- ARGV: prefix, node, channel ('ch:' or 'chb:' for batches), message, then the sender:id
-- of each frame in it ('' if none)
-- -> number of subscribers that got it (0: node unreachable, or too old for batches)
local p, node = ARGV[1], ARGV[2]
if redis.call('EXISTS', p .. 'node:' .. node) == 0 then return 0 end
local n = redis.call('PUBLISH', p .. ARGV[3] .. node, ARGV[4])
if n > 0 then
  for i = 5, #ARGV do mark_handed_on(p, ARGV[i]) end
end
return n
"""
)

STORE = (
    _COMMON
    + """
-- ARGV: prefix, did, now_ms, ttl_ms, frame, sender:id ('' if none), sender, bytes, then the
-- bounds (0 = off): frames per agent, frames in all, frames per sender, bytes per agent,
-- bytes per sender, bytes in all, bytes for unseen recipients, then the calling node
-- -> {status, live owner or false}; status 1 stored, -1 recipient full, -2 store full,
--    -3 sender full, -4 share of recipients that never registered used up.
-- The live owner's node, if another, is told to drain in the same step (no crash of the
-- caller can lose that notice while the recipient stays connected).
local p, did = ARGV[1], ARGV[2]
local now, ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
local sender, size = ARGV[7], tonumber(ARGV[8])
local max_agent, max_total, max_sender = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local max_agent_b, max_sender_b = tonumber(ARGV[12]), tonumber(ARGV[13])
local max_total_b, max_unseen_b = tonumber(ARGV[14]), tonumber(ARGV[15])
local function over(bound, cur, extra) return bound > 0 and cur + extra > bound end
local function num(v) return tonumber(v or '0') or 0 end
trim(p, did, now, ttl)
local k = p .. 'store:' .. did
local unseen = redis.call('ZSCORE', p .. 'seen_agents', did) == false
local function refusal()
  if over(max_agent, redis.call('LLEN', k), 1) then return -1 end
  if over(max_agent_b, num(redis.call('HGET', p .. 'store_agent_bytes', did)), size) then
    return -1
  end
  if over(max_sender, num(redis.call('HGET', p .. 'store_sender', sender)), 1) then return -3 end
  if over(max_sender_b, num(redis.call('HGET', p .. 'store_sender_bytes', sender)), size) then
    return -3
  end
  if unseen and over(max_unseen_b, num(redis.call('GET', p .. 'store_unseen_bytes')), size) then
    return -4
  end
  if over(max_total, num(redis.call('GET', p .. 'store_total')), 1) then return -2 end
  if over(max_total_b, num(redis.call('GET', p .. 'store_bytes')), size) then return -2 end
  return 1
end
local status = refusal()
if status < -1 then
  -- refused by a shared bound: drop a few recipients' expired frames, then look again
  local due = redis.call('ZRANGEBYSCORE', p .. 'store_due', '-inf', '(' .. (now - ttl),
                         'LIMIT', 0, 16)
  if #due > 0 then
    for _, other in ipairs(due) do trim(p, other, now, ttl) end
    status = refusal()
  end
end
if status < 0 then return {status, false} end
local flag = unseen and '1' or '0'
local head = ARGV[3] .. ':' .. size .. ':' .. flag .. ':' .. #sender .. ':' .. sender
redis.call('RPUSH', k, head .. ARGV[5])
redis.call('INCR', p .. 'store_total')
redis.call('INCRBY', p .. 'store_bytes', size)
if unseen then redis.call('INCRBY', p .. 'store_unseen_bytes', size) end
redis.call('HINCRBY', p .. 'store_agent_bytes', did, size)
redis.call('HINCRBY', p .. 'store_sender', sender, 1)
redis.call('HINCRBY', p .. 'store_sender_bytes', sender, size)
redis.call('ZADD', p .. 'store_due', 'NX', ARGV[3], did)
mark_handed_on(p, ARGV[6])
local owner = live_owner(p, did)
if owner and node_of(owner) ~= ARGV[16] then
  -- STORED, SEP, did: the store notice of _redis_codec
  redis.call('PUBLISH', p .. 'ch:' .. node_of(owner), 'S\\0' .. did)
end
return {1, owner}
"""
)

TAKE = (
    _COMMON
    + """
-- ARGV: prefix, did, now_ms, seen_max -> every stored entry, oldest first (the caller drops
-- expired ones); did is remembered as registered (at most seen_max DIDs, 0 = no limit)
local p, did = ARGV[1], ARGV[2]
local k = p .. 'store:' .. did
local items = redis.call('LRANGE', k, 0, -1)
if #items > 0 then
  redis.call('DEL', k)
  redis.call('DECRBY', p .. 'store_total', #items)
  for _, entry in ipairs(items) do uncount(p, did, entry) end
end
redis.call('HDEL', p .. 'store_agent_bytes', did)
redis.call('ZREM', p .. 'store_due', did)
remember_seen(p, did, ARGV[3], tonumber(ARGV[4]))
return items
"""
)

TRIM = (
    _COMMON
    + """
-- ARGV: prefix, did, now_ms, ttl_ms -> number of expired frames dropped
return trim(ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]))
"""
)

SWEEP_NODE = (
    _COMMON
    + """
-- ARGV: prefix, node, force ('1' also sweeps a live node: used by a node for its own id at start)
-- -> number of agents removed from presence, or -1 if the node is alive
local p, node, force = ARGV[1], ARGV[2], ARGV[3]
if force ~= '1' and redis.call('EXISTS', p .. 'node:' .. node) == 1 then return -1 end
local n = 0
for _, did in ipairs(redis.call('SMEMBERS', p .. 'node_agents:' .. node)) do
  local owner = redis.call('HGET', p .. 'owner', did)
  if owner and node_of(owner) == node then
    drop_agent(p, did, owner)
    redis.call('PUBLISH', p .. 'presence', did)
    n = n + 1
  end
end
redis.call('DEL', p .. 'node_agents:' .. node)
if force ~= '1' then redis.call('SREM', p .. 'nodes', node) end
return n
"""
)

HEARTBEAT = """
-- ARGV: prefix, node, ttl_ms, incarnation -> 1 if the liveness key had vanished (Redis
-- restarted, or the node was taken for dead), 0 if it was merely extended
local p, node = ARGV[1], ARGV[2]
local k = p .. 'node:' .. node
redis.call('SADD', p .. 'nodes', node)
local vanished = redis.call('EXISTS', k) == 0
redis.call('SET', k, ARGV[4], 'PX', ARGV[3])
if vanished then return 1 end
return 0
"""

LIST = (
    _COMMON
    + """
-- ARGV: prefix, index key ('dids' or 'capdids:<capability>'), min ('-' or '(<did>'), count
-- -> {} when nothing follows min, else {last DID read, how many read, record JSON of each
-- live agent among them...}
-- One page in DID order: O(log n + count), whatever the number of agents.
local p = ARGV[1]
local dids = redis.call('ZRANGEBYLEX', p .. ARGV[2], ARGV[3], '+', 'LIMIT', 0, tonumber(ARGV[4]))
if #dids == 0 then return {} end
local out = {dids[#dids], #dids}
local alive = {}
for _, did in ipairs(dids) do
  local owner = redis.call('HGET', p .. 'owner', did)
  if owner then
    local node = node_of(owner)
    if alive[node] == nil then alive[node] = redis.call('EXISTS', p .. 'node:' .. node) == 1 end
    if alive[node] then
      local rec = redis.call('HGET', p .. 'agent', did)
      if rec then out[#out + 1] = rec end
    end
  end
end
return out
"""
)

HOLD = (
    _COMMON
    + """
-- ARGV: prefix, did, include_held ('1' or '0'), ttl_ms, now_ms, seen_max -> entries moved from
-- the store to the held list (after the entries held already when include_held is '1'),
-- oldest first. They leave the store's totals as with TAKE (the held list is bounded by the
-- age limit alone), and did is remembered as registered, as with TAKE.
local p, did = ARGV[1], ARGV[2]
local k, h = p .. 'store:' .. did, p .. 'held:' .. did
local out = {}
if ARGV[3] == '1' then out = redis.call('LRANGE', h, 0, -1) end
local items = redis.call('LRANGE', k, 0, -1)
if #items > 0 then
  redis.call('DEL', k)
  redis.call('DECRBY', p .. 'store_total', #items)
  for _, entry in ipairs(items) do uncount(p, did, entry) end
  for i = 1, #items, 1000 do
    redis.call('RPUSH', h, unpack(items, i, math.min(i + 999, #items)))
  end
  redis.call('PEXPIRE', h, tonumber(ARGV[4]))
end
redis.call('HDEL', p .. 'store_agent_bytes', did)
redis.call('ZREM', p .. 'store_due', did)
remember_seen(p, did, ARGV[5], tonumber(ARGV[6]))
for _, v in ipairs(items) do out[#out + 1] = v end
return out
"""
)

SETTLE = """
-- ARGV: prefix, did, entry... -> removes each entry once from the held list
local h = ARGV[1] .. 'held:' .. ARGV[2]
for i = 3, #ARGV do redis.call('LREM', h, 1, ARGV[i]) end
return 0
"""

UNHOLD = (
    _COMMON
    + """
-- ARGV: prefix, did, calling node, entry... -> puts held entries back at the head of the
-- store list, in order (their session went away before it took them), counts them in the
-- store's totals again, and tells the live owner's node, if another, to drain
local p, did = ARGV[1], ARGV[2]
local k, h = p .. 'store:' .. did, p .. 'held:' .. did
local n = 0
for i = #ARGV, 4, -1 do
  if redis.call('LREM', h, 1, ARGV[i]) > 0 then
    redis.call('LPUSH', k, ARGV[i])
    count(p, did, ARGV[i])
    n = n + 1
  end
end
if n > 0 then
  redis.call('INCRBY', p .. 'store_total', n)
  -- the head is now the oldest entry: its stored_at_ms is the recipient's due time
  local ts = parse_entry(redis.call('LINDEX', k, 0))
  redis.call('ZADD', p .. 'store_due', ts or 0, did)
end
local owner = live_owner(p, did)
if owner and node_of(owner) ~= ARGV[3] then
  -- STORED, SEP, did: the store notice of _redis_codec
  redis.call('PUBLISH', p .. 'ch:' .. node_of(owner), 'S\\0' .. did)
end
return owner
"""
)
