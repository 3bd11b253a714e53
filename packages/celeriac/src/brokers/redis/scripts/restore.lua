--[[
restore: give a delivery back to the FRONT of its bucket (RPUSH: BRPOP/RPOP take from the
right), as kombu's restore on warm shutdown. The envelope goes back byte-for-byte unchanged:
this path is for prefetched messages that never started (see redis-broker.ts for why we do
not mark them redelivered as kombu does). Only while the caller still holds the lease.

KEYS[1]  unacked (hash)
KEYS[2]  unacked_index (zset)
KEYS[3]  celeriac.leases (zset)
KEYS[4]  celeriac.lease.data (hash)
KEYS[5]  the bucket list the delivery came from
ARGV[1]  delivery tag
ARGV[2]  token given by fetch
ARGV[3]  envelope as delivered

Returns 1 when restored, 0 when the lease was lost (the message was already given back).
]]
local data = redis.call('HGET', KEYS[4], ARGV[1])
if not data or cjson.decode(data)[1] ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[5], ARGV[3])
return 1
