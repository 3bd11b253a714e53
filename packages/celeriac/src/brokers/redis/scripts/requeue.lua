--[[
requeue: reject with requeue, as kombu's reject(requeue=True): remove the delivery from
the bookkeeping and LPUSH (back of the line) the envelope marked redelivered, keeping its
delivery tag. The caller marks the envelope (TypeScript re-serializes JSON losslessly,
Lua's cjson would not). Only while the caller still holds the lease.

KEYS[1]  unacked (hash)
KEYS[2]  unacked_index (zset)
KEYS[3]  celeriac.leases (zset)
KEYS[4]  celeriac.lease.data (hash)
KEYS[5]  the bucket list the delivery came from
ARGV[1]  delivery tag
ARGV[2]  token given by fetch
ARGV[3]  envelope marked redelivered

Returns 1 when requeued, 0 when the lease was lost (the message was already given back).
]]
local data = redis.call('HGET', KEYS[4], ARGV[1])
if not data or cjson.decode(data)[1] ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('LPUSH', KEYS[5], ARGV[3])
return 1
