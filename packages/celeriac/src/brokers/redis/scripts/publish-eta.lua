--[[
publish-eta: publish a message whose ETA is still ahead. Where it waits depends on whether
anything will promote it when due, decided in the same atomic step as the write:
  - a live Celeriac promoter (a consuming Celeriac broker whose presence in
    celeriac.promoters has not expired): ZADD it to celeriac.delayed scored by its due
    time, so no worker holds it under a visibility timeout while it waits;
  - none (a Python-only fleet, or no worker at all yet): LPUSH it to its bucket list as
    kombu publishes it, its `eta` header set, so whichever worker takes it honours the ETA
    (a Python worker holds it until due; a Celeriac worker defers it to celeriac.delayed).
Expired presences are only left out of the count, never removed here: the lost-task sweep
(take-lost-tasks.lua) forgets them once silent for its grace. Removed here, a worker paused
for a moment (a VM migration, SIGSTOP) was absent from the set, so taken for dead at once,
without the grace, and its running early-acked tasks were stored FAILURE WorkerLostError.

KEYS[1]  celeriac.promoters (zset broker id -> presence expiry, epoch ms)
KEYS[2]  celeriac.delayed (zset of JSON [<bucket key>, <envelope>] scored by due ms)
KEYS[3]  the bucket list of the target queue
ARGV[1]  now, epoch ms
ARGV[2]  due time, epoch ms
ARGV[3]  delayed member: JSON [<bucket key>, <envelope>]
ARGV[4]  envelope
ARGV[5]  wake-up channel of the queue (PUBLISHed after an LPUSH; by pcall: an ACL without the
         channel must not fail the script after its push, which the caller would send again)

Returns 1 when the message went to celeriac.delayed, 0 when it was pushed to the queue.
]]
if redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf') > 0 then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
  return 1
end
redis.call('LPUSH', KEYS[3], ARGV[4])
redis.pcall('PUBLISH', ARGV[5], '')
return 0
