--[[
count-start: the task of a delivery that was given back before starts now; mark it, so that if
its worker dies while it runs, the lease recovery counts that death against this message
(restore-stale.lua) and not against the messages that were only waiting in the same worker's
prefetch. Only deliveries given back before are marked (the worker asks for those alone), so
a first delivery costs nothing here; its first restore counts once (see restore-stale.lua).
The mark names the lease token: a mark left by an earlier holding never matches a later one.

KEYS[1]  celeriac.lease.data (hash tag -> "<token> <bucket>")
KEYS[2]  celeriac.started (hash tag -> the token of the holding whose task started)
ARGV[1]  delivery tag
ARGV[2]  token given by fetch
ARGV[3]  how long celeriac.started lives after its last mark, ms

Returns 1 when marked, 0 when the lease was lost (nothing changed).
]]
local data = redis.call('HGET', KEYS[1], ARGV[1])
if not data or data:sub(1, #ARGV[2] + 1) ~= ARGV[2] .. ' ' then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
