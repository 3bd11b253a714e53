--[[
promote-due: move delayed messages whose due time has come to the back of their bucket
(LPUSH, like a fresh publish). Each member is moved by exactly one caller even when many
consumers run this at once (the script is atomic). Bounded per call; callers loop while
the limit is reached.

Then rings the doorbell of each queue it moved messages to (bells.lua, written before this
script), a token per message up to 64, as a Celeriac publish does: idle consumers of every process wake at once, where only
the promoting process's own consumers did and the others found the message by their poll (a
publisher that promotes has none).

With KEYS[2], counts the live promoters (a publisher that consumes nothing paces its looks by
them). Then, for a worker's promote duty (KEYS[3] and ARGV[6..7] given too), the claim on the
earliest member left: the worker whose call first sees a due time claims it and alone waits
for that exact time; the others look again at their regular pace. Every worker waiting for the
known due time called again then, all at once: with ETA messages due every few milliseconds,
each worker of the fleet called every few milliseconds. A claim lapses `slack` ms after its due
time, so a claimant that died or stalled is replaced by the next caller.

KEYS[1]  celeriac.delayed (zset of JSON [<bucket key>, <envelope>] scored by due ms)
KEYS[2]  optional: celeriac.promoters (zset broker id -> presence expiry ms): live ones counted
KEYS[3]  optional, with KEYS[2]: celeriac.promote.claim (string "<due ms> <broker id>")
ARGV[1]  now, epoch ms
ARGV[2]  most members to move
ARGV[3]  the queues' key prefix (a bucket key is prefix .. queue [.. "\6\22" .. step]), or ''
ARGV[4]  with ARGV[3]: the doorbells' key prefix (a doorbell is this .. queue), or ''
ARGV[5]  with ARGV[4]: the wake-up channels' prefix (a channel is this .. queue; one PUBLISH per
         queue, for consumers on Sentinel), or ''
ARGV[6]  with KEYS[3]: the caller's broker id
ARGV[7]  with KEYS[3]: how long a claim outlives its due time, ms

Returns { moved count, due ms of the earliest member left (or -1 when none), 1 when the caller
holds the claim on it (else 0), live promoters (0 without KEYS[2]) }.
]]
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local queue_prefix, bell_prefix = ARGV[3], ARGV[4]
if bell_prefix == '' then bell_prefix = nil end
for _, member in ipairs(due) do
  local ok, entry = pcall(cjson.decode, member)
  if ok and type(entry) == 'table' and type(entry[1]) == 'string' and type(entry[2]) == 'string' then
    redis.call('LPUSH', entry[1], entry[2])
    local queue = bell_prefix and bell_queue_of(entry[1], queue_prefix)
    if queue then bell_note(queue) end
  end
  -- An unreadable member would block the head forever: dropped (only we write this zset).
  redis.call('ZREM', KEYS[1], member)
end
if bell_prefix then ring_bells(bell_prefix, ARGV[5]) end
local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local next_due = -1
if head[2] then next_due = tonumber(head[2]) end
-- The claim and the count by pcall: the messages are moved already, and a key of another type
-- there would fail every later call the same way. Without them the caller keeps its pace and
-- waits for no due time (another looks within a period), as for a claim held elsewhere.
local owner, live = 0, 0
local now = tonumber(ARGV[1])
if KEYS[2] then
  live = redis.pcall('ZCOUNT', KEYS[2], now, '+inf')
  if type(live) ~= 'number' then live = 0 end
end
if KEYS[3] then
  if next_due >= 0 then
    -- The due time as ZRANGE wrote it: the claim compares it as text.
    local mine = head[2] .. ' ' .. ARGV[6]
    local claim = redis.pcall('GET', KEYS[3])
    -- Taken when free, when it is the caller's, or when it is for another due time (the head
    -- changed since: a claimant's own call re-claims the next one as it promotes).
    if not claim or claim == mine or (type(claim) == 'string' and string.sub(claim, 1, #head[2] + 1) ~= head[2] .. ' ') then
      local ttl = math.max(0, next_due - now) + tonumber(ARGV[7])
      local set = redis.pcall('SET', KEYS[3], mine, 'PX', math.max(1, math.floor(ttl)))
      if type(set) == 'table' and set.ok then owner = 1 end
    end
  end
end
return { #due, next_due, owner, live }
