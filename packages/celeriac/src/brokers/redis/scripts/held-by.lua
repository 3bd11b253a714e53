--[[
held-by: the deliveries held under lease tokens that start with one of the given prefixes
(each consumer's tokens start with its id). The lease keeper thread runs it when the event
loop stopped feeding it, to find the deliveries fetched since the last feed, so a loop that
blocks right after a fetch keeps them too; it never runs while the loop is well.

KEYS[1]  celeriac.lease.data (hash tag -> "<token> <bucket key>")
ARGV[1..] token prefixes

Returns a flat list: tag, token, ... for each matching lease.
]]
local sub, find = string.sub, string.find
local out = {}
local cursor = '0'
repeat
  local page = redis.call('HSCAN', KEYS[1], cursor, 'COUNT', 500)
  cursor = page[1]
  local fields = page[2]
  for i = 1, #fields, 2 do
    local value = fields[i + 1]
    for j = 1, #ARGV do
      if sub(value, 1, #ARGV[j]) == ARGV[j] then
        local space = find(value, ' ', 1, true)
        if space then
          out[#out + 1] = fields[i]
          out[#out + 1] = sub(value, 1, space - 1)
        end
        break
      end
    end
  end
until cursor == '0'
return out
