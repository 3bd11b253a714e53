--[[
running-record: record early-acked tasks as running on their holder (a worker), and renew the
holders' presence, by the Redis server's clock (TIME), so hosts need not agree on the time.
A triple with an empty field only renews its holder's presence (running-tasks.ts).

KEYS[1]  celeriac:running (hash `<holder> <tag>` -> `<holder> <entry>`: redis/lost-tasks.ts)
KEYS[2]  celeriac:running.holders (zset holder -> last seen, epoch ms)
ARGV     triples: holder, field ('' for none), value

Returns the number of records written.
]]
-- Redis < 5 replicates scripts verbatim and refuses writes after TIME unless told otherwise.
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local written = 0
for i = 1, #ARGV - 2, 3 do
  redis.call('ZADD', KEYS[2], now, ARGV[i])
  if ARGV[i + 1] ~= '' then
    redis.call('HSET', KEYS[1], ARGV[i + 1], ARGV[i + 2])
    written = written + 1
  end
end
return written
