-- publish-fenced: publish a message only while a beat lease token holds, and record the
-- entry's run state in the same step (beat's send: a paused old leader cannot publish).
-- KEYS[1] lease key, KEYS[2] run-state hash (unused when ARGV[2] is ''),
--   KEYS[3..] targets: the queues' bucket lists, or the delayed zset once when ARGV[3] ~= ''
-- ARGV[1] token, ARGV[2] state field ('' = none), ARGV[3] deliverAt epoch ms ('' = now),
--   ARGV[4] state JSON, ARGV[5] envelope (list targets), ARGV[6..] per target:
--   the wake-up channel (list targets) or the delayed-set member (delayed)
-- Returns 1 when published, 0 when the token no longer holds the lease (nothing written).
-- The wake-ups go by pcall: one refused (an ACL without the channel) must not end the script
-- after its first push, with the run state written and the other targets not.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
end
if ARGV[3] ~= '' then
  for i = 6, #ARGV do
    redis.call('ZADD', KEYS[3], ARGV[3], ARGV[i])
  end
else
  for i = 3, #KEYS do
    redis.call('LPUSH', KEYS[i], ARGV[5])
    redis.pcall('PUBLISH', ARGV[i + 3], '')
  end
end
return 1
