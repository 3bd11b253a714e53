--[[
defer: settle a delivery and hold it server-side until its ETA: remove it from the
bookkeeping and ZADD it to celeriac.delayed scored by the due time, in one step, so a
message waiting for its ETA is never under a visibility timeout (kombu#337 duplicates).
Only while the caller still holds the lease.

KEYS[1]  unacked (hash)
KEYS[2]  unacked_index (zset)
KEYS[3]  celeriac.leases (zset)
KEYS[4]  celeriac.lease.data (hash)
KEYS[5]  celeriac.delayed (zset)
KEYS[6]  celeriac.deliveries (hash tag -> deliveries given back so far; see release.lua)
ARGV[1]  delivery tag
ARGV[2]  token given by fetch
ARGV[3]  due time, epoch ms
ARGV[4]  delayed member: JSON [<bucket key>, <envelope>]
ARGV[5]  '1' to count this as a delivery given back (a worker-side redelivery), '0' not (an ETA)
ARGV[6]  the count hash's expiry, ms

Returns 1 when deferred, 0 when the lease was lost.
]]
-- Checked before any write (see release.lua): a wrong-type delayed key must not lose the message.
local kind = redis.call('TYPE', KEYS[5]).ok
if kind ~= 'zset' and kind ~= 'none' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[5] .. ' holds a ' .. kind .. ', not a sorted set: the message stays held and comes back by its lease; delete or rename that key')
end
local data = redis.call('HGET', KEYS[4], ARGV[1])
if not data or data:sub(1, #ARGV[2] + 1) ~= ARGV[2] .. ' ' then return 0 end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[5], ARGV[3], ARGV[4])
if ARGV[5] == '1' then
  redis.call('HINCRBY', KEYS[6], ARGV[1], 1)
  redis.call('PEXPIRE', KEYS[6], ARGV[6])
end
return 1
