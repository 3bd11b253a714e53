--[[
rescue-delayed: when no Celeriac promoter is alive any more, move delayed messages back
into their queues, kombu-style (LPUSH, each keeps its `eta` header), so Python workers (or
Celeriac workers started later) run them instead of leaving them stranded in a set only
Celeriac reads. Does nothing while a live promoter exists. A closing broker passes its own
id: it is withdrawn in the same step, so no publish can slip into the delayed set between
its last check and its leaving. Earliest due first, so the earliest is served first.
Bounded per call; callers loop while messages are left.

KEYS[1]  celeriac.promoters (zset broker id -> presence expiry, epoch ms)
KEYS[2]  celeriac.delayed (zset of JSON [<bucket key>, <envelope>] scored by due ms)
ARGV[1]  now, epoch ms
ARGV[2]  most members to move
ARGV[3]  broker id to withdraw from celeriac.promoters first ('' for none)

Returns { moved count, or -1 when a live promoter exists; members left in celeriac.delayed }.
]]
if ARGV[3] ~= '' then redis.call('ZREM', KEYS[1], ARGV[3]) end
-- Expired presences are not removed here (see publish-eta.lua), only left out of the count.
if redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf') > 0 then return { -1, redis.call('ZCARD', KEYS[2]) } end
local members = redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[2]) - 1)
for _, member in ipairs(members) do
  local ok, entry = pcall(cjson.decode, member)
  if ok and type(entry) == 'table' and type(entry[1]) == 'string' and type(entry[2]) == 'string' then
    redis.call('LPUSH', entry[1], entry[2])
  end
  -- An unreadable member is dropped, as promote-due does (only we write this zset).
  redis.call('ZREM', KEYS[2], member)
end
return { #members, redis.call('ZCARD', KEYS[2]) }
