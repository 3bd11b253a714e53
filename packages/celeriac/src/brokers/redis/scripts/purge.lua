--[[
purge: delete every ready message of a queue (its four bucket lists) and its delayed
messages (members of celeriac.delayed aimed at one of those lists). Scans the delayed set:
O(delayed messages), an operator action.

KEYS[1]  celeriac.delayed (zset)
KEYS[2..5] the queue's bucket lists

Returns {ready messages removed, delayed messages removed}.
]]
local ready = 0
local delayed = 0
local mine = {}
for i = 2, #KEYS do
  ready = ready + redis.call('LLEN', KEYS[i])
  redis.call('DEL', KEYS[i])
  mine[KEYS[i]] = true
end
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local ok, entry = pcall(cjson.decode, member)
  if ok and type(entry) == 'table' and mine[entry[1]] then
    redis.call('ZREM', KEYS[1], member)
    delayed = delayed + 1
  end
end
return {ready, delayed}
