--[[
lost-running: find the early-acked tasks whose worker died. A consumer records each task it
acks early and starts in celeriac.running (running.ts) and removes it once the task's end is
stored; a record whose broker is no longer a live member of celeriac.promoters (presence
lapsed: kill -9, lost host) is first marked with the time it was seen orphaned, and once it
has been orphaned for the grace period it is removed and returned, so that exactly one
sweeping worker reports it lost. A record whose broker comes back to life is unmarked.

KEYS[1]  celeriac.running (hash delivery tag -> JSON [broker id, queue, envelope, orphaned since ms or 0])
KEYS[2]  celeriac.promoters (zset broker id -> presence expiry, epoch ms)
ARGV[1]  now, epoch ms
ARGV[2]  grace, ms
ARGV[3]  most records to return

Returns a flat list: tag, broker id, queue, envelope, ... of the records found lost.
]]
local now, grace, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local lost = {}
local cursor = '0'
repeat
  local page = redis.call('HSCAN', KEYS[1], cursor, 'COUNT', 200)
  cursor = page[1]
  local fields = page[2]
  for i = 1, #fields, 2 do
    local tag, value = fields[i], fields[i + 1]
    local ok, rec = pcall(cjson.decode, value)
    if not ok or type(rec) ~= 'table' or type(rec[1]) ~= 'string' or type(rec[3]) ~= 'string' then
      -- Only Celeriac writes this hash: an unreadable record cannot be reported, drop it.
      redis.call('HDEL', KEYS[1], tag)
    else
      local expiry = tonumber(redis.call('ZSCORE', KEYS[2], rec[1]) or '0')
      local since = tonumber(rec[4]) or 0
      if expiry >= now then
        if since ~= 0 then
          rec[4] = 0
          redis.call('HSET', KEYS[1], tag, cjson.encode(rec))
        end
      elseif since == 0 then
        rec[4] = now
        redis.call('HSET', KEYS[1], tag, cjson.encode(rec))
      elseif now - since >= grace and #lost < limit * 4 then
        redis.call('HDEL', KEYS[1], tag)
        lost[#lost + 1] = tag
        lost[#lost + 1] = rec[1]
        lost[#lost + 1] = tostring(rec[2])
        lost[#lost + 1] = rec[3]
      end
    end
  end
until cursor == '0'
return lost
