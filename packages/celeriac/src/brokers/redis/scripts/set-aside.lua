--[[
set-aside: settle a delivery and park it where operators can inspect it (unsafe content
type, undecodable envelope...): remove it from the bookkeeping and RPUSH a record to
celeriac.setaside (so LRANGE 0 -1 lists oldest first). Only while the caller still holds
the lease.

KEYS[1]  unacked (hash)
KEYS[2]  unacked_index (zset)
KEYS[3]  celeriac.leases (zset)
KEYS[4]  celeriac.lease.data (hash)
KEYS[5]  celeriac.setaside (list)
ARGV[1]  delivery tag
ARGV[2]  token given by fetch
ARGV[3]  record: JSON {raw, queue, reason, at}

Returns 1 when set aside, 0 when the lease was lost.
]]
local data = redis.call('HGET', KEYS[4], ARGV[1])
if not data or cjson.decode(data)[1] ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[5], ARGV[3])
return 1
