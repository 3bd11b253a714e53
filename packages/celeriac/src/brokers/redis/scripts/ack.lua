--[[
ack: settle a delivery for good: drop it from kombu's bookkeeping (ZREM unacked_index +
HDEL unacked, as kombu's ack) and from our lease set, but only while the caller still
holds the lease (its token matches): a delivery taken back by a sweep and fetched again
by someone else belongs to the new holder now.

KEYS[1]  unacked (hash)
KEYS[2]  unacked_index (zset)
KEYS[3]  celeriac.leases (zset)
KEYS[4]  celeriac.lease.data (hash)
ARGV[1]  delivery tag
ARGV[2]  token given by fetch

Returns 1 when settled, 0 when the lease was lost (nothing changed except stale lease data).
]]
local data = redis.call('HGET', KEYS[4], ARGV[1])
if not data or cjson.decode(data)[1] ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('HDEL', KEYS[1], ARGV[1])
