--[[
take-lost-tasks: the one lost-task mechanism (redis/lost-tasks.ts). Hands out, once each, the
records of early-acked tasks whose holder (a worker) has shown no sign of life for the grace
period: it was killed, or its host lost. Each record is removed as it is returned, so exactly
one caller reports it. Two stores use it, with the same records and the same rule:
- the Redis broker (brokers/redis/running.ts): records in celeriac.running, written by
  ack.lua as it acks; presence in celeriac.promoters, broker id -> presence expiry;
- the Redis result backend, for brokers that keep no record (RabbitMQ;
  backends/redis/running-tasks.ts): records in celeriac:running, presence in
  celeriac:running.holders, holder -> last seen.
A holder is silent when its presence score is at most now - grace: last seen that long ago,
or its presence expired that long ago. A holder absent from the presence set is silent.

A record's value is "<holder> <entry>", the entry being kombu's unacked form [envelope,
exchange, queue] (the envelope may be a JSON string: an envelope that is not an object), or,
where the store names a hash of entries (KEYS[3]: the broker's kombu unacked hash), the holder
alone, the entry being the one under the record's field in that hash (ack.lua leaves it there);
it is deleted with its record when taken, and a short record without one is dropped. Read
too, so that a rolling upgrade loses no record: "<holder> <n> <entry>" and the JSON
[broker id, queue, envelope, n] of earlier brokers, and the JSON [holder, tag, queue,
envelope] of earlier backends. An unreadable record is dropped (only Celeriac writes there).

The broker's walk reads every record (see ARGV[4]), and every worker calls it every sweep: one
call read the whole fleet's records while Redis served nobody else, and the fleet read them
once per worker per sweep. With KEYS[4] the walk is the fleet's, not the caller's: one call
reads about ARGV[5] records from where the last call (of any worker) stopped, the cursor being
kept in KEYS[4]; a pass that comes back to the start rests the walk for ARGV[6] ms, by the
callers' clock, during which calls return at once. A cursor left by a caller that stopped
calling is dropped after a minute (the next pass starts over).

KEYS[1]  the records (hash field -> value)
KEYS[2]  the presence (zset holder -> epoch ms)
KEYS[3]  optional: the entries of short records (hash field -> entry)
KEYS[4]  optional: the walk's state (string: the cursor to go on from, or "rest:<epoch ms>")
ARGV[1]  grace, ms
ARGV[2]  most records to return
ARGV[3]  now, epoch ms; '' for the Redis server's clock
ARGV[4]  '1' when every record's holder is in the presence set (the backend writes both in one
         step): the walk is then skipped while no holder is silent (one ZCOUNT), and holders
         silent past the grace are forgotten once their records are taken; '0' (the broker's
         promoters, which the ETA scripts read) walks every call, and forgets holders silent
         past the grace at each call: no other script removes a presence, so a paused
         worker is absent only once it is lost
ARGV[5]  with KEYS[4]: about how many records one call reads
ARGV[6]  with KEYS[4]: how long a finished pass rests the walk, ms (0: not at all)

Returns a flat list: field, holder, entry, ... of the records found lost; with KEYS[4], first
'1' when the walk stopped before the end of its pass (the caller may go on soon), else '0'.
]]
local now = tonumber(ARGV[3])
if not now then
  -- Redis < 5 replicates scripts verbatim and refuses writes after TIME unless told otherwise.
  if redis.replicate_commands then redis.replicate_commands() end
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local cutoff = now - tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local complete = ARGV[4] == '1'
if complete and redis.call('ZCOUNT', KEYS[2], '-inf', cutoff) == 0 then return {} end
local find, sub, byte = string.find, string.sub, string.byte
local entries = KEYS[3]

-- holder, entry; nil for a record that cannot be read.
local function parse(value)
  if byte(value, 1) == 91 then
    local ok, rec = pcall(cjson.decode, value)
    if not ok or type(rec) ~= 'table' or type(rec[1]) ~= 'string' then return nil end
    if type(rec[4]) == 'string' then return rec[1], '[' .. cjson.encode(rec[4]) .. ', "", ' .. cjson.encode(tostring(rec[3])) .. ']' end
    if type(rec[3]) == 'string' then return rec[1], '[' .. rec[3] .. ', "", ' .. cjson.encode(tostring(rec[2])) .. ']' end
    return nil
  end
  local a = find(value, ' ', 1, true)
  -- A short record: its entry is read once its holder is found silent (see below).
  if not a then return entries and value or nil, false end
  if byte(value, a + 1) ~= 91 then
    a = find(value, ' ', a + 1, true)
    if not a then return nil end
  end
  return sub(value, 1, (find(value, ' ', 1, true)) - 1), sub(value, a + 1)
end

local lost = {}
local full = false
local seen = {}
local cursor = '0'
local walk = KEYS[4]
local shared = walk ~= nil
local budget = math.huge
if walk then
  budget = tonumber(ARGV[5])
  -- A key of another type there (not ours to delete) makes every call a whole walk, as before.
  local state = redis.pcall('GET', walk)
  if type(state) == 'table' then
    walk = nil
    budget = math.huge
  elseif state then
    local rest_until = tonumber(string.match(state, '^rest:(%d+)$'))
    if rest_until then
      if now < rest_until then return {'0'} end
    elseif string.match(state, '^%d+$') then
      cursor = state
    end
  end
end
local read = 0
repeat
  local from = cursor
  local page = redis.call('HSCAN', KEYS[1], cursor, 'COUNT', 200)
  cursor = page[1]
  local fields = page[2]
  read = read + #fields / 2
  for i = 1, #fields, 2 do
    local field = fields[i]
    local holder, entry = parse(fields[i + 1])
    if not holder then
      redis.call('HDEL', KEYS[1], field)
    elseif #lost >= limit * 3 then
      full = true
    else
      local silent = seen[holder]
      if silent == nil then
        local score = redis.call('ZSCORE', KEYS[2], holder)
        silent = not score or tonumber(score) <= cutoff
        seen[holder] = silent
      end
      if silent then
        if entry == false then
          entry = redis.call('HGET', entries, field)
          if entry then redis.call('HDEL', entries, field) end
        end
        redis.call('HDEL', KEYS[1], field)
        if entry then
          lost[#lost + 1] = field
          lost[#lost + 1] = holder
          lost[#lost + 1] = entry
        end
      end
    end
  end
  -- Full: the rest of this page is read again by the next call (what was taken is gone).
  if full then cursor = from end
until cursor == '0' or full or read >= budget
if walk then
  local rest = tonumber(ARGV[6])
  if cursor ~= '0' or full then
    redis.call('SET', walk, cursor, 'PX', 60000)
  elseif rest > 0 then
    redis.call('SET', walk, 'rest:' .. (now + rest), 'PX', math.max(rest, 60000))
  else
    redis.call('DEL', walk)
  end
end
-- A forgotten holder is still silent (absent), so the broker's walk, which always runs, takes
-- what is left of its records later; the complete store's ZCOUNT would skip them.
if not complete or not full then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', cutoff) end
if shared then table.insert(lost, 1, (walk and (cursor ~= '0' or full)) and '1' or '0') end
return lost
