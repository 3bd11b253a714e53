-- beat-read-entries: one consistent snapshot of the dynamic beat entries.
-- KEYS[1] definitions hash, KEYS[2] paused set, KEYS[3] version counter
-- ARGV none
-- Returns {version, {name1, json1, name2, json2, ...}, {paused names...}}.
local version = tonumber(redis.call('GET', KEYS[3]) or '0')
return {version, redis.call('HGETALL', KEYS[1]), redis.call('SMEMBERS', KEYS[2])}
