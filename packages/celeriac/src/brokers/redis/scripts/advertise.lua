--[[
advertise: a broker's presence in celeriac.promoters (member -> expiry, epoch ms), moved
forward only. The expiry is computed by the caller before the command is written; a renewal
queued just before a task blocked the event loop is written after the block, with an expiry
long past, while the lease keeper thread kept the presence up meanwhile. A plain ZADD then set
it back into the past, and another worker took the blocked worker for dead (CI, 2026-11-29).

Presences that expired before ARGV[3] are dropped on the way: the lost-task sweep forgets
silent ones after its grace (take-lost-tasks.lua), but a fleet with lost-task detection off
runs no sweep, and each worker that died unclosed would stay in the set for good.

KEYS[1]  celeriac.promoters (zset)
ARGV[1]  expiry, epoch ms
ARGV[2]  member (the broker's id)
ARGV[3]  epoch ms: presences that expired before it are dropped

Returns 1 when written, 0 when a later expiry was there already.
]]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
local current = redis.call('ZSCORE', KEYS[1], ARGV[2])
if current and tonumber(current) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
return 1
