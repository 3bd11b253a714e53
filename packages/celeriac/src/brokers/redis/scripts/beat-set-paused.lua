-- beat-set-paused: pause or resume a beat entry by name and bump the entries version.
-- KEYS[1] paused set, KEYS[2] version counter
-- ARGV[1] entry name, ARGV[2] '1' to pause, '0' to resume
-- Returns the new version.
if ARGV[2] == '1' then
  redis.call('SADD', KEYS[1], ARGV[1])
else
  redis.call('SREM', KEYS[1], ARGV[1])
end
return redis.call('INCR', KEYS[2])
