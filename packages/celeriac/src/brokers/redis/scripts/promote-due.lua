--[[
promote-due: move delayed messages whose due time has come to the back of their bucket
(LPUSH, like a fresh publish). Each member is moved by exactly one caller even when many
consumers run this at once (the script is atomic). Bounded per call; callers loop while
the limit is reached.

KEYS[1]  celeriac.delayed (zset of JSON [<bucket key>, <envelope>] scored by due ms)
ARGV[1]  now, epoch ms
ARGV[2]  most members to move

Returns { moved count, due ms of the earliest member left (or -1 when none) }.
]]
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  local ok, entry = pcall(cjson.decode, member)
  if ok and type(entry) == 'table' and type(entry[1]) == 'string' and type(entry[2]) == 'string' then
    redis.call('LPUSH', entry[1], entry[2])
  end
  -- An unreadable member would block the head forever: dropped (only we write this zset).
  redis.call('ZREM', KEYS[1], member)
end
local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local next_due = -1
if head[2] then next_due = tonumber(head[2]) end
return { #due, next_due }
