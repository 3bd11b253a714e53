--[[
lost-running: find the early-acked tasks whose worker died. A consumer records each task it
acks early and starts in celeriac.running (running.ts) and removes it once the task's end is
stored; a record whose broker is no longer a live member of celeriac.promoters (presence
lapsed: kill -9, lost host) is first marked with the time it was seen orphaned, and once it
has been orphaned for the grace period it is removed and returned, so that exactly one
sweeping worker reports it lost. A record whose broker comes back to life is unmarked.

Records come in two forms: "<broker id> <orphaned since ms or 0> <unacked value>", written
by ack.lua (the unacked value is the message's kombu bookkeeping entry, [envelope, "",
queue]); and the JSON [broker id, queue, envelope, orphaned since ms or 0] of earlier
versions, read so that a rolling upgrade loses no record.

KEYS[1]  celeriac.running (hash delivery tag -> record)
KEYS[2]  celeriac.promoters (zset broker id -> presence expiry, epoch ms)
ARGV[1]  now, epoch ms
ARGV[2]  grace, ms
ARGV[3]  most records to return

Returns a flat list: tag, broker id, [envelope, "", queue] as JSON text, ... of the records
found lost.
]]
local now, grace, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local find, sub = string.find, string.sub

-- broker id, orphaned since, the unacked value; nil for a record that cannot be read.
local function parse(value)
  if sub(value, 1, 1) == '[' then
    local ok, rec = pcall(cjson.decode, value)
    if not ok or type(rec) ~= 'table' or type(rec[1]) ~= 'string' or type(rec[3]) ~= 'string' then return nil end
    return rec[1], tonumber(rec[4]) or 0, '[' .. rec[3] .. ', "", ' .. cjson.encode(tostring(rec[2])) .. ']'
  end
  local a = find(value, ' ', 1, true)
  local b = a and find(value, ' ', a + 1, true)
  if not b then return nil end
  return sub(value, 1, a - 1), tonumber(sub(value, a + 1, b - 1)) or 0, sub(value, b + 1)
end

local lost = {}
local cursor = '0'
repeat
  local page = redis.call('HSCAN', KEYS[1], cursor, 'COUNT', 200)
  cursor = page[1]
  local fields = page[2]
  for i = 1, #fields, 2 do
    local tag = fields[i]
    local broker, since, entry = parse(fields[i + 1])
    if not broker then
      -- Only Celeriac writes this hash: an unreadable record cannot be reported, drop it.
      redis.call('HDEL', KEYS[1], tag)
    else
      local expiry = tonumber(redis.call('ZSCORE', KEYS[2], broker) or '0')
      if expiry >= now then
        if since ~= 0 then redis.call('HSET', KEYS[1], tag, broker .. ' 0 ' .. entry) end
      elseif since == 0 then
        redis.call('HSET', KEYS[1], tag, broker .. ' ' .. ARGV[1] .. ' ' .. entry)
      elseif now - since >= grace and #lost < limit * 3 then
        redis.call('HDEL', KEYS[1], tag)
        lost[#lost + 1] = tag
        lost[#lost + 1] = broker
        lost[#lost + 1] = entry
      end
    end
  end
until cursor == '0'
return lost
