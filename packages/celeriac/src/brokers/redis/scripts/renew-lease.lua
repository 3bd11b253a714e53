--[[
renew-lease: keep deliveries a live Celeriac consumer still holds from being taken back:
for each (tag, token) whose lease the caller still holds and which is still in `unacked`,
push the lease expiry forward and bump the unacked_index score to now (so a Python
worker's visibility sweep, which reads that score, sees a fresh delivery too). Forward only:
the caller computes both before the call is written, and a renewal queued on the event loop
just before a task blocked it is written after the block, older than what the lease keeper
thread wrote meanwhile; it must not take the lease back into the past.

KEYS[1]  unacked (hash)
KEYS[2]  unacked_index (zset)
KEYS[3]  celeriac.leases (zset)
KEYS[4]  celeriac.lease.data (hash)
ARGV[1]  now, whole epoch seconds (the unacked_index score, as fetch writes it)
ARGV[2]  new lease expiry, epoch ms
ARGV[3..] pairs: delivery tag, token

Returns the tags whose lease was lost (taken back or held by someone else now).
]]
local lost = {}
for i = 3, #ARGV, 2 do
  local tag, token = ARGV[i], ARGV[i + 1]
  local data = redis.call('HGET', KEYS[4], tag)
  if data and data:sub(1, #token + 1) == token .. ' ' and redis.call('HEXISTS', KEYS[1], tag) == 1 then
    local lease = redis.call('ZSCORE', KEYS[3], tag)
    if not lease or tonumber(lease) < tonumber(ARGV[2]) then redis.call('ZADD', KEYS[3], ARGV[2], tag) end
    local seen = redis.call('ZSCORE', KEYS[2], tag)
    if not seen or tonumber(seen) < tonumber(ARGV[1]) then redis.call('ZADD', KEYS[2], ARGV[1], tag) end
  else
    lost[#lost + 1] = tag
  end
end
return lost
