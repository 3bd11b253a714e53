--[[
ack: settle deliveries for good: drop each from kombu's bookkeeping (ZREM unacked_index +
HDEL unacked, as kombu's ack) and from our lease set, but only while the caller still
holds its lease (its token matches): a delivery taken back by a sweep and fetched again
by someone else belongs to the new holder now. Takes many deliveries per call, so a busy
worker acks everything settled in one event-loop turn with one round trip; the leases are
read with one HMGET and the deletions are variadic (one command per key, chunked), since
per-delivery redis.call overhead was most of this script's cost. A tag given twice in one
call is settled once (the second entry reports 0, as a second call would).

An early ack of a task that starts now also records it as running (celeriac.running, see
running.ts and redis/lost-tasks.ts), in the same step: the record is the broker id alone, and
the message's unacked entry stays where fetch wrote it, out of kombu's index (so no visibility
sweep, ours or Python's, gives it back) and out of our leases. So the envelope neither travels
back over the wire nor is copied inside Redis (reading ~900-byte values into Lua and writing
them again was a quarter of a task's Redis CPU), and a task's record is written if and only
if its ack went through. A record's removal (a later call, ARGV[3..]) deletes that entry too,
but only for a record of that short form: a record written whole by the broker (running.ts,
a delivery acked before it was recorded) has no entry left, and the tag's entry, if any,
belongs to another delivery.

KEYS[1]  unacked (hash)
KEYS[2]  unacked_index (zset)
KEYS[3]  celeriac.leases (zset)
KEYS[4]  celeriac.lease.data (hash)
KEYS[5]  celeriac.deliveries (hash): settled tags' delivery counts are dropped
KEYS[6]  celeriac.running (hash tag -> "<broker id>", the entry left in unacked)
KEYS[7]  celeriac.started (hash): settled tags' start marks (count-start.lua) are dropped
ARGV[1]      broker id written into running records
ARGV[2]      R: the number of running records to remove (with no delivery: a removal alone)
ARGV[3..2+R] their tags
then, for the i-th delivery (i from 1, at base = 2 + R + 3(i-1)):
ARGV[base+1] its delivery tag
ARGV[base+2] the token given by fetch for it
ARGV[base+3] its flags, a digit: 1 to record it as running, plus 2 when it may have a delivery
             count or a start mark to drop (it was given back before, or the caller does not
             know); only then are those two hashes looked at

Returns one entry per delivery: 1 when settled, 0 when its lease was lost (nothing changed
for it except stale lease data).
]]
local r = tonumber(ARGV[2])
local at = 2 + r
local n = (#ARGV - at) / 3
local tags = {}
for i = 1, n do tags[i] = ARGV[at + 3 * i - 2] end

-- Chunked: Lua's unpack has a stack limit.
local function each_chunk(list, fn)
  for i = 1, #list, 1000 do fn(unpack(list, i, math.min(i + 999, #list))) end
end

local data = {}
each_chunk(tags, function(...)
  for _, d in ipairs(redis.call('HMGET', KEYS[4], ...)) do data[#data + 1] = d end
end)

-- The lease data is "<token> <bucket>": held when it starts with the token and a space
-- (compared in place: no substring is made for it).
local byte, find = string.byte, string.find
local out, settled, seen, running = {}, {}, {}, {}
local counted = false
for i = 1, n do
  local tag, token, d = tags[i], ARGV[at + 3 * i - 1], data[i]
  if d and not seen[tag] and byte(d, #token + 1) == 32 and find(d, token, 1, true) == 1 then
    seen[tag] = true
    settled[#settled + 1] = tag
    local flags = byte(ARGV[at + 3 * i]) - 48
    if flags % 2 == 1 then running[#running + 1] = tag end
    if flags >= 2 then counted = true end
    out[i] = 1
  else
    out[i] = 0
  end
end
-- Removals first: a tag's record is written by its own ack, always in an earlier call. A
-- short record (no space: the broker id alone) leaves its entry in unacked, deleted with it.
if r > 0 then
  local gone = {}
  for i = 3, at, 1000 do
    local last = math.min(i + 999, at)
    for k, value in ipairs(redis.call('HMGET', KEYS[6], unpack(ARGV, i, last))) do
      if value and not find(value, ' ', 1, true) then gone[#gone + 1] = ARGV[i + k - 1] end
    end
    redis.call('HDEL', KEYS[6], unpack(ARGV, i, last))
  end
  if #gone > 0 then each_chunk(gone, function(...) redis.call('HDEL', KEYS[1], ...) end) end
end
-- The records of this call's running tasks: their unacked entries stay (see above).
local kept = {}
if #running > 0 then
  local records = {}
  for _, tag in ipairs(running) do
    kept[tag] = true
    records[#records + 1] = tag
    records[#records + 1] = ARGV[1]
  end
  each_chunk(records, function(...) redis.call('HSET', KEYS[6], ...) end)
end
if #settled > 0 then
  each_chunk(settled, function(...) redis.call('ZREM', KEYS[3], ...) end)
  each_chunk(settled, function(...) redis.call('HDEL', KEYS[4], ...) end)
  each_chunk(settled, function(...) redis.call('ZREM', KEYS[2], ...) end)
  local dropped = settled
  if #running > 0 then
    dropped = {}
    for _, tag in ipairs(settled) do if not kept[tag] then dropped[#dropped + 1] = tag end end
  end
  if #dropped > 0 then each_chunk(dropped, function(...) redis.call('HDEL', KEYS[1], ...) end) end
  -- Only a message given back before can have a delivery count or a start mark (one written
  -- since its fetch means its lease was taken, and it is not settled here). Both hashes are
  -- usually absent even then: one EXISTS for the two, each call from Lua costing Redis about as
  -- much as a small command.
  if counted and redis.call('EXISTS', KEYS[5], KEYS[7]) > 0 then
    for key = 5, 7, 2 do
      each_chunk(settled, function(...) redis.call('HDEL', KEYS[key], ...) end)
    end
  end
end
return out
