-- revoked.lua: which of the given task ids are revoked now (by the Redis server's clock).
-- Read-only; a script so the check is one round trip and uses the same clock as revoke.lua.
--
-- KEYS[1]  celeriac:revoked, a sorted set (member: task id, score: expiry in epoch ms)
-- ARGV[1..] task ids
-- Returns  the subset of ARGV whose revoke has not expired, in ARGV order

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i = 1, #ARGV do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) > now then out[#out + 1] = ARGV[i] end
end
return out
