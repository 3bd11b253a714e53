-- beat-put-entry: add or replace a dynamic beat entry and bump the entries version.
-- KEYS[1] definitions hash (name -> JSON), KEYS[2] version counter
-- ARGV[1] entry name, ARGV[2] definition JSON
-- Returns the new version.
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return redis.call('INCR', KEYS[2])
