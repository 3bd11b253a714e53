--[[
running-lost: take the records of early-acked tasks whose holder (a worker) has been silent
for the grace period: it was killed, or its host lost. Each record is removed as it is
returned, so exactly one caller reports it. Holders silent that long are then forgotten,
unless the limit stopped the walk (their records are taken by the next call). Every record's
holder is in the holders set (running-record.lua writes both), so when no holder is silent
the walk is skipped: the common call is one ZCOUNT.

KEYS[1]  celeriac:running (hash `<holder> <tag>` -> JSON [holder, tag, queue, envelope])
KEYS[2]  celeriac:running.holders (zset holder -> last seen, epoch ms)
ARGV[1]  grace, ms
ARGV[2]  most records to return

Returns a flat list: tag, holder, queue, envelope, ... of the records found lost.
]]
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cutoff = now - tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
if redis.call('ZCOUNT', KEYS[2], '-inf', cutoff) == 0 then return {} end
local lost = {}
local full = false
local cursor = '0'
repeat
  local page = redis.call('HSCAN', KEYS[1], cursor, 'COUNT', 200)
  cursor = page[1]
  local fields = page[2]
  for i = 1, #fields, 2 do
    local field, value = fields[i], fields[i + 1]
    local ok, rec = pcall(cjson.decode, value)
    if not ok or type(rec) ~= 'table' or type(rec[1]) ~= 'string' or type(rec[4]) ~= 'string' then
      -- Only Celeriac writes this hash: an unreadable record cannot be reported, drop it.
      redis.call('HDEL', KEYS[1], field)
    elseif #lost >= limit * 4 then
      full = true
    else
      local seen = redis.call('ZSCORE', KEYS[2], rec[1])
      if not seen or tonumber(seen) <= cutoff then
        redis.call('HDEL', KEYS[1], field)
        lost[#lost + 1] = tostring(rec[2])
        lost[#lost + 1] = rec[1]
        lost[#lost + 1] = tostring(rec[3])
        lost[#lost + 1] = rec[4]
      end
    end
  end
until cursor == '0' or full
if not full then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', cutoff) end
return lost
