--[[
reclaim: gives back to the FRONT of their buckets the messages that one fetch of this consumer
took but never brought back: its reply was lost with its connection (a blocked fetch on a
network path that died silently, whose BRPOP a publish ended in Redis; a fetch whose
connection was replaced for its silence). The consumer knows that fetch's token prefix and the
exact lease expiry it wrote (fetch.lua), so the messages are found without a scan: leases
scored at that expiry whose token starts with that prefix. Without this they waited for
their lease to run out (recoverAfterSec, 60 s by default) and the recovery sweep.

Run by the consumer once its connection answers again, before their lease ran out, never
while the lost fetch could still be read: a message it gives back was never handed to a task.
So it goes back as it was (not marked redelivered, not counted as a delivery given back),
in the order the fetch popped it, and its queue's doorbell is rung as a publish rings it.
A message whose held entry is not in the shape fetch.lua writes (a malformed envelope, kept
as a JSON string) is left to its lease, as is one whose bucket holds a key of another type.

KEYS[1]  unacked (hash)
KEYS[2]  unacked_index (zset)
KEYS[3]  celeriac.leases (zset)
KEYS[4]  celeriac.lease.data (hash)
KEYS[5..4+B]  the fetch's bucket keys, as fetch.lua got them (step-major, Q queues per step)
KEYS[5+B..4+B+Q]  optional: the queues' doorbells (bell.ts), in the fetch's queue order
ARGV[1]  the lease expiry the fetch wrote, epoch ms
ARGV[2]  the fetch's token prefix (its messages' tokens are "<prefix>.<i>")
ARGV[3]  Q: number of queues
ARGV[4]  B: number of bucket keys
ARGV[5..4+Q]  each queue's name as the JSON string the fetch wrote into unacked
ARGV[5+Q..4+2Q]  with the doorbells: each queue's wake-up channel

Returns the number of messages given back.
]]
local q, b = tonumber(ARGV[3]), tonumber(ARGV[4])
local prefix = ARGV[2] .. '.'
local sub, find = string.sub, string.find

local bucket_index = {}
for i = 1, b do bucket_index[KEYS[4 + i]] = i end

local found = {}
for _, tag in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], ARGV[1], ARGV[1])) do
  local data = redis.call('HGET', KEYS[4], tag)
  if data and sub(data, 1, #prefix) == prefix then
    local space = find(data, ' ', 1, true)
    local bucket = space and sub(data, space + 1)
    local bi = bucket and bucket_index[bucket]
    local value = bi and redis.call('HGET', KEYS[1], tag)
    if value then
      local qi = (bi - 1) % q
      local suffix = ', "", ' .. ARGV[5 + qi] .. ']'
      if sub(value, 1, 1) == '[' and #value > #suffix and sub(value, -#suffix) == suffix then
        found[#found + 1] = { n = tonumber(sub(data, #prefix + 1, space - 1)) or 0, tag = tag, bucket = bucket, raw = sub(value, 2, #value - #suffix), qi = qi }
      end
    end
  end
end

-- The last popped goes back first, so the first popped ends at the front again.
table.sort(found, function(x, y) return x.n > y.n end)
local rung, given = {}, 0
for _, m in ipairs(found) do
  local kind = redis.call('TYPE', m.bucket).ok
  if kind == 'list' or kind == 'none' then
    redis.call('ZREM', KEYS[3], m.tag)
    redis.call('HDEL', KEYS[4], m.tag)
    redis.call('ZREM', KEYS[2], m.tag)
    redis.call('HDEL', KEYS[1], m.tag)
    redis.call('RPUSH', m.bucket, m.raw)
    rung[m.qi] = (rung[m.qi] or 0) + 1
    given = given + 1
  end
end

if #KEYS >= 4 + b + q then
  for qi, n in pairs(rung) do ring_bell(KEYS[5 + b + qi], n, ARGV[5 + q + qi]) end
end
return given
