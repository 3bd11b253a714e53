--[[
set-aside: park a held delivery for good (a malformed message, a dead letter), only while the
caller still holds its lease, and keep the set-aside store within its bounds. Removes the
delivery from kombu's bookkeeping and our lease set, drops its delivery count, RPUSHes the
record onto celeriac.setaside and adds its length to celeriac.setaside.bytes; then, while the
list holds more than the most records or the most bytes, LPOPs the oldest records (the one
just parked is never dropped: a record bigger than the byte bound stays alone).

celeriac.setaside.bytes is the sum of the lengths of the list's records. When it is missing
and the list is not empty (a store written before the counter existed), it is computed once.

KEYS[1]  unacked (hash)
KEYS[2]  unacked_index (zset)
KEYS[3]  celeriac.leases (zset)
KEYS[4]  celeriac.lease.data (hash)
KEYS[5]  the record's part of the store: celeriac.setaside (malformed messages) or
         celeriac.deadletters (dead-lettered tasks), a list of records, oldest first
KEYS[6]  celeriac.deliveries (hash)
KEYS[7]  that part's byte counter: celeriac.setaside.bytes or celeriac.deadletters.bytes
KEYS[8]  celeriac.started (hash): the delivery's start mark is dropped (count-start.lua)
ARGV[1]  delivery tag
ARGV[2]  token given by fetch
ARGV[3]  the record text (at most the part's record bound: core/set-aside.ts truncates it)
ARGV[4]  most records kept
ARGV[5]  most bytes kept

Returns {parked, dropped records, dropped bytes, first dropped id}: parked is 1, or 0 when the
lease was lost (nothing changed); ids are the first 16 hex digits of each record's SHA-1.
]]
-- Checked before any write: a wrong-type key would make the push fail after the bookkeeping
-- was dropped, losing the message. It stays held instead, and the caller gets the error.
for _, pair in ipairs({{KEYS[5], 'list'}, {KEYS[7], 'string'}}) do
  local kind = redis.call('TYPE', pair[1]).ok
  if kind ~= pair[2] and kind ~= 'none' then
    return redis.error_reply('WRONGTYPE ' .. pair[1] .. ' holds a ' .. kind .. ', not a ' .. pair[2] .. ': the message stays held and comes back by its lease; delete or rename that key')
  end
end
local data = redis.call('HGET', KEYS[4], ARGV[1])
if not data or data:sub(1, #ARGV[2] + 1) ~= ARGV[2] .. ' ' then return {0, 0, 0, ''} end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return {0, 0, 0, ''} end
redis.call('HDEL', KEYS[6], ARGV[1])
redis.call('HDEL', KEYS[8], ARGV[1])

if redis.call('EXISTS', KEYS[7]) == 0 then
  local total = 0
  for _, item in ipairs(redis.call('LRANGE', KEYS[5], 0, -1)) do total = total + #item end
  redis.call('SET', KEYS[7], total)
end
local count = redis.call('RPUSH', KEYS[5], ARGV[3])
local bytes = redis.call('INCRBY', KEYS[7], #ARGV[3])
local max_count, max_bytes = tonumber(ARGV[4]), tonumber(ARGV[5])
local dropped, dropped_bytes, first = 0, 0, ''
while count > 1 and (count > max_count or bytes > max_bytes) do
  local oldest = redis.call('LPOP', KEYS[5])
  if not oldest then break end
  if first == '' then first = redis.sha1hex(oldest):sub(1, 16) end
  count = count - 1
  bytes = redis.call('DECRBY', KEYS[7], #oldest)
  dropped = dropped + 1
  dropped_bytes = dropped_bytes + #oldest
end
return {1, dropped, dropped_bytes, first}
