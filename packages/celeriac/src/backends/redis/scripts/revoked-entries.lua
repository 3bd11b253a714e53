-- revoked-entries.lua: every live revoke and the milliseconds it has left (by the Redis
-- server's clock), for a worker loading its in-memory revoked set. Read-only.
--
-- KEYS[1]  celeriac:revoked, a sorted set (member: task id, score: expiry in epoch ms)
-- Returns  a flat list: id1, ttlMs1, id2, ttlMs2, ... (ttl as an integer string)

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES')
local out = {}
for i = 1, #live, 2 do
  out[#out + 1] = live[i]
  out[#out + 1] = tostring(math.floor(tonumber(live[i + 1]) - now))
end
return out
