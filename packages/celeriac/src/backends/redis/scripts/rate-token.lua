-- rate-token.lua: reserve the next run of a cluster-wide rate limit (GCRA with no burst).
-- The key holds the theoretical arrival time (TAT): the earliest moment, in microseconds by
-- the Redis server's clock, at which the next run may start. A caller gets the slot at
-- max(TAT, now), pushes TAT one interval past it, and waits until its slot. Runs are thus
-- spaced at least one interval apart across every worker, in the order they asked.
--
-- KEYS[1]  celeriac:rate:<task name>
-- ARGV[1]  interval between runs in microseconds
-- Returns  microseconds the caller must wait before running (0 = run now)

if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local start = math.max(tat, now)
local nextTat = start + interval
-- Expire once the key means nothing more (TAT in the past): idle limits leave no key behind.
redis.call('SET', KEYS[1], string.format('%d', nextTat), 'PX', math.ceil((nextTat - now) / 1000) + 1000)
return start - now
