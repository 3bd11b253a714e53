-- revoke.lua: remember task ids as revoked until now + ttl, by the Redis server's clock.
-- Server time (TIME) rather than each host's clock, so every worker agrees on when a revoke ends.
--
-- KEYS[1]  celeriac:revoked, a sorted set (member: task id, score: expiry in epoch ms)
-- ARGV[1]  time to live in milliseconds
-- ARGV[2..] task ids
-- Returns  the number of ids written

-- Redis < 5 replicates scripts verbatim and refuses writes after TIME unless told otherwise.
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expires = now + tonumber(ARGV[1])

-- Drop expired entries on every write, so the set stays as small as the live revokes.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], expires, ARGV[i])
end

-- The set itself lives as long as its longest entry: an idle deployment does not keep it.
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], math.floor(tonumber(last[2]))) end
return #ARGV - 1
