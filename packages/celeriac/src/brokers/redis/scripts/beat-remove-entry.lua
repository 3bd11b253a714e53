-- beat-remove-entry: remove a dynamic beat entry with its paused mark and run state, and
-- bump the entries version.
-- KEYS[1] definitions hash, KEYS[2] paused set, KEYS[3] run-state hash, KEYS[4] version counter
-- ARGV[1] entry name
-- Returns {1 if the definition existed else 0, new version}.
local existed = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return {existed, redis.call('INCR', KEYS[4])}
