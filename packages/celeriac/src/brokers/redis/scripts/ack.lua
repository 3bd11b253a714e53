--[[
ack: settle deliveries for good: drop each from kombu's bookkeeping (ZREM unacked_index +
HDEL unacked, as kombu's ack) and from our lease set, but only while the caller still
holds its lease (its token matches): a delivery taken back by a sweep and fetched again
by someone else belongs to the new holder now. Takes many deliveries per call, so a busy
worker acks everything settled in one event-loop turn with one round trip.

KEYS[1]  unacked (hash)
KEYS[2]  unacked_index (zset)
KEYS[3]  celeriac.leases (zset)
KEYS[4]  celeriac.lease.data (hash)
ARGV[2i-1]  delivery tag of the i-th delivery
ARGV[2i]    token given by fetch for it

Returns one entry per delivery: 1 when settled, 0 when its lease was lost (nothing changed
for it except stale lease data).
]]
local out = {}
for i = 1, #ARGV, 2 do
  local tag, token = ARGV[i], ARGV[i + 1]
  local data = redis.call('HGET', KEYS[4], tag)
  if data and data:sub(1, #token + 1) == token .. ' ' then
    redis.call('ZREM', KEYS[3], tag)
    redis.call('HDEL', KEYS[4], tag)
    redis.call('ZREM', KEYS[2], tag)
    redis.call('HDEL', KEYS[1], tag)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
