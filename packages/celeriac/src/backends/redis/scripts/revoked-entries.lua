-- revoked-entries.lua: the live revokes that end last and the milliseconds they have left (by
-- the Redis server's clock), for a worker loading its in-memory revoked set. Read-only.
-- At most ARGV[1] of them: a worker keeps that many, and a revoke of a million ids made the
-- whole listing take Redis 1.4 s, for every worker every 30 s.
--
-- KEYS[1]  celeriac:revoked, a sorted set (member: task id, score: expiry in epoch ms)
-- ARGV[1]  the most entries to return
-- Returns  a flat list in the order they end: id1, ttlMs1, id2, ttlMs2, ... (ttl as an integer string)

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local live = redis.call('ZREVRANGEBYSCORE', KEYS[1], '+inf', '(' .. now, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[1]))
local out = {}
for i = #live - 1, 1, -2 do
  out[#out + 1] = live[i]
  out[#out + 1] = tostring(math.floor(tonumber(live[i + 1]) - now))
end
return out
