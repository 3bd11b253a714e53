--[[
release: give up a held delivery, only while the caller still holds its lease. Removes it from
kombu's bookkeeping (unacked, unacked_index) and our lease set, then pushes a payload onto a
list. One script serves two transitions that differ only in list end and delivery count:
  - requeue (reject with requeue, kombu's reject(requeue=True)): LPUSH, the back of the line,
    the envelope marked redelivered (marked in TypeScript: Lua's cjson would reorder keys);
  - restore (kombu's restore on warm shutdown): RPUSH, the front of the line, also marked
    redelivered in TypeScript.
Setting a message aside (malformed, or a dead letter) is set-aside.lua.

KEYS[1]  unacked (hash)
KEYS[2]  unacked_index (zset)
KEYS[3]  celeriac.leases (zset)
KEYS[4]  celeriac.lease.data (hash)
KEYS[5]  the list to push onto (the delivery's bucket list)
KEYS[6]  celeriac.deliveries (hash tag -> how many deliveries of it were given back so far)
KEYS[7]  optional: the queue's doorbell (bell.ts), rung after the push as a publish rings it (bells.lua),
         so an idle consumer of any process takes the message at once, not at its poll
ARGV[1]  delivery tag
ARGV[2]  token given by fetch
ARGV[3]  payload to push
ARGV[4]  'LPUSH' or 'RPUSH'
ARGV[5]  what happens to the tag's delivery count: 'count' (HINCRBY 1: a requeue) or 'keep'
         (a restore of a message that never started)
ARGV[6]  the count hash's expiry, ms, renewed on each count (bounds what foreign acks leave)
ARGV[7]  with KEYS[7]: the queue's wake-up channel, PUBLISHed after the ring (bells.lua)

Returns 1 when released, 0 when the lease was lost (the message was already given back), or a
WRONGTYPE error, changing nothing, when KEYS[5] is not a list.
]]
if ARGV[4] ~= 'LPUSH' and ARGV[4] ~= 'RPUSH' then return redis.error_reply('release: ARGV[4] must be LPUSH or RPUSH') end
-- Checked before any write: a key of another type (someone SET a string there) would make the
-- push fail after the bookkeeping was dropped, losing the message. It stays held instead.
local kind = redis.call('TYPE', KEYS[5]).ok
if kind ~= 'list' and kind ~= 'none' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[5] .. ' holds a ' .. kind .. ', not a list: the message stays held and comes back by its lease; delete or rename that key')
end
local data = redis.call('HGET', KEYS[4], ARGV[1])
if not data or data:sub(1, #ARGV[2] + 1) ~= ARGV[2] .. ' ' then return 0 end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call(ARGV[4], KEYS[5], ARGV[3])
if KEYS[7] then ring_bell(KEYS[7], 1, ARGV[7]) end
if ARGV[5] == 'count' then
  redis.call('HINCRBY', KEYS[6], ARGV[1], 1)
  redis.call('PEXPIRE', KEYS[6], ARGV[6])
end
return 1
