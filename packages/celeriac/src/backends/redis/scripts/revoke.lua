-- revoke.lua: remember task ids as revoked until now + ttl, by the Redis server's clock, and
-- tell running workers. Server time (TIME) rather than each host's clock, so every worker
-- agrees on when a revoke ends; the PUBLISH is in the script so a notice is never sent for a
-- revoke that was not stored (workers load the set at start and then follow the channel).
--
-- KEYS[1]  celeriac:revoked, a sorted set (member: task id, score: expiry in epoch ms)
-- ARGV[1]  time to live in milliseconds
-- ARGV[2]  channel to publish the notice on
-- ARGV[3]  the notice (JSON: ids, ttlMs, terminate, signal), published as is
-- ARGV[4..] task ids
-- Returns  the number of ids written

-- Redis < 5 replicates scripts verbatim and refuses writes after TIME unless told otherwise.
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expires = now + tonumber(ARGV[1])

-- Drop expired entries on every write, so the set stays as small as the live revokes.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
for i = 4, #ARGV do
  redis.call('ZADD', KEYS[1], expires, ARGV[i])
end

-- The set itself lives as long as its longest entry: an idle deployment does not keep it.
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], math.floor(tonumber(last[2]))) end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return #ARGV - 3
