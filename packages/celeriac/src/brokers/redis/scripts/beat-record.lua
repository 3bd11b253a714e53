-- beat-record: write one entry's run state, only while the caller holds beat's lease.
-- KEYS[1] lease key, KEYS[2] run-state hash (entry name -> JSON state)
-- ARGV[1] token, ARGV[2] entry name, ARGV[3] state JSON
-- Returns 1 when written, 0 when the token no longer holds the lease.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1
