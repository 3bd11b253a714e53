--[[
held-by: the deliveries held under lease tokens that start with one of the given prefixes
(each consumer's tokens start with its id), one stretch of celeriac.lease.data at a time. The
lease keeper thread runs it when the event loop stopped feeding it, to find the deliveries
fetched since the last feed, so a loop that blocks right after a fetch keeps them too; it
never runs while the loop is well.

The hash holds the leases of the whole fleet, so one call reads about ARGV[2] of its entries
(HSCAN pages of up to 500) and returns where to go on: the keeper calls again from there until
the cursor is back at 0. Read in one call, a large fleet's leases stopped Redis for every
client for tens of milliseconds (bench/results/2026-11-28-vm-session35.md). HSCAN's guarantee holds across calls as within one: an entry
present from the first call to the last is returned at least once.

KEYS[1]  celeriac.lease.data (hash tag -> "<token> <bucket key>")
ARGV[1]  cursor: 0 to start
ARGV[2]  about how many entries to read in this call
ARGV[3..] token prefixes

Returns a flat list: the next cursor (0: done), then tag, token, ... for each matching lease.
]]
local sub, find = string.sub, string.find
local out = {''}
local cursor = ARGV[1]
local budget = tonumber(ARGV[2])
local read = 0
repeat
  local page = redis.call('HSCAN', KEYS[1], cursor, 'COUNT', math.min(500, budget))
  cursor = page[1]
  local fields = page[2]
  read = read + #fields / 2
  for i = 1, #fields, 2 do
    local value = fields[i + 1]
    for j = 3, #ARGV do
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
until cursor == '0' or read >= budget
out[1] = cursor
return out
