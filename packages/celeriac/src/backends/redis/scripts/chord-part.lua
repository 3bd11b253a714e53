-- chord-part.lua: record one chord header part and report the join (docs/protocol.md §3.7).
-- The same steps as Celery 5.2.6's MULTI pipeline (ZADD, ZCOUNT, GET .t, GET .s, EXPIRE x3), on
-- the same keys, so Python and Celeriac workers can complete one chord together; the ZRANGE of
-- a complete join is added in the same step so the parts read are exactly the ones counted.
--
-- KEYS[1]  celery-taskset-meta-<gid>.j  sorted set: member "[1, tid, state, result]", score group_index
-- KEYS[2]  celery-taskset-meta-<gid>.t  integer added to the expected total (usually absent)
-- KEYS[3]  celery-taskset-meta-<gid>.s  the chord size, written by the sender
-- ARGV[1]  the member JSON
-- ARGV[2]  the score: the part's group_index, or "+inf"
-- ARGV[3]  time to live of the three keys in milliseconds, or "" to keep them
-- Returns  {count, size or "", counter or "", members}: members (ZRANGE 0 -1) only when
--          size is set and count == size + counter, else an empty list

redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local count = redis.call('ZCOUNT', KEYS[1], '-inf', '+inf')
local counter = redis.call('GET', KEYS[2])
local size = redis.call('GET', KEYS[3])
if ARGV[3] ~= '' then
  for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
end
local members = {}
if size then
  local total = tonumber(size) + (tonumber(counter) or 0)
  if count == total then members = redis.call('ZRANGE', KEYS[1], 0, -1) end
end
return {count, size or '', counter or '', members}
