--[[
fetch: pop up to N messages from the first non-empty bucket of the given queues, in
kombu's BRPOP order (priority step first, then queue; queues rotated after each hit),
and record each one as held in the SAME script, so a popped message never lives only in
a worker's memory (kill -9 included):
  * kombu's bookkeeping: HSET unacked <tag> [<envelope>, "", "<queue>"] and ZADD
    unacked_index <now seconds> <tag> (what kombu writes, so Python workers' visibility
    sweep sees it too and restores it to the queue it was popped from);
  * ours: ZADD celeriac.leases <lease expiry ms> <tag> and
    HSET celeriac.lease.data <tag> "<token> <bucket key>" (token first: it has no space).

The writes of a batch go out as one variadic command per key (chunked), not four calls per
message: per-message redis.call overhead was most of this script's cost. With one queue,
each bucket is emptied with RPOP <count> (Redis >= 6.2; older servers pop one by one), which
pops in the same order as repeated RPOPs.

The tag is the envelope's properties.delivery_tag. Every Celery producer writes
`"properties": {...}` as the envelope's last member and `delivery_tag` as the last member
of properties, so the envelope ends with `"delivery_tag": "<tag>"}}`: read there, in the
last bytes, without decoding the whole envelope (the most expensive step of this script
otherwise). Any other shape is decoded with cjson. Whether the message is a redelivery is
left to the worker, which parses the envelope anyway.

A malformed envelope (not a JSON object with a string delivery_tag) is delivered too
(decoding is the worker's job) under the tag "celeriac-malformed-<token>", its text kept as
a JSON string in `unacked`.

KEYS[1]  unacked (hash)
KEYS[2]  unacked_index (zset)
KEYS[3]  celeriac.leases (zset)
KEYS[4]  celeriac.lease.data (hash)
KEYS[5]  celeriac.deliveries (hash tag -> deliveries given back so far; see release.lua)
KEYS[6..5+4Q] bucket lists, step-major: for step in 0,3,6,9: for queue in rotation order
KEYS[6+4Q..] optional: the queues' doorbell lists (bell.ts), deleted when every queue was
         found empty (fewer than N popped): their tokens announced messages that are gone
ARGV[1]  Q: number of queues
ARGV[2]  N: most messages to pop
ARGV[3]  now, whole epoch seconds: the unacked_index score (kombu writes float seconds; an integer keeps ZADD cheap, see transitions.ts)
ARGV[4]  lease expiry, epoch ms
ARGV[5]  token prefix, unique per call; message i gets token "<prefix>.<i>"
ARGV[6..5+Q] each queue's name (rotation order) as a JSON string: the routing key in unacked

A bucket key of another type is skipped (the other queues are served); when nothing could be
fetched because of one, the script returns a WRONGTYPE error naming it. Another refusal
(READONLY) is returned as Redis gave it when nothing was fetched. A delivery tag that
is already held, or twice in one batch, is held under `<tag>~dup.<token>` (see below).

Returns {header, envelope_1, ..., envelope_N, tag_a, tag_b, ...}, messages in pop order.
The header holds one entry per message: its key offset (0-based index into KEYS[6..]) in
decimal, then `:<tag>"` when its tag was read at the envelope's end (such a tag holds no
quote), or a bare `"` when it was not: those tags follow the envelopes, in order. Message i
(0-based) has token "<prefix>.<i>". When any fetched tag has a count in celeriac.deliveries
(it was given back before: lease recovery, requeue, a worker-side redelivery), the header
ends with `#` and one count per message, comma-separated, in order (0 for none): a message
delivered for the first time costs one EXISTS per fetch, no more. One string for what would be three small entries per
message: each reply entry costs Redis a reply write and the client a RESP parse.
]]
local q = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
-- out[1] is the header, made at the end from the pieces in `header`.
local out = {''}
local header, others = {}, {}
local start = 0
local got = 0
local TAIL = '"delivery_tag": "'
-- Called as plain functions: the method form (`raw:sub(...)`) looks each one up through the
-- string metatable on every call. With the plain searches below, this halved tail_tag's cost.
local byte, sub, find = string.byte, string.sub, string.find

-- The tag at the envelope's end, or nil when the envelope does not end that way.
local function tail_tag(raw)
  local last = #raw
  while last > 0 and byte(raw, last) <= 32 do last = last - 1 end
  if last < 4 or sub(raw, last - 2, last) ~= '"}}' or byte(raw, 1) ~= 123 then return nil end
  local s, e
  if last > 56 and sub(raw, last - 55, last - 39) == TAIL then
    -- A uuid4 tag (36 characters), as kombu and Celeriac write: no search needed. Being the
    -- last occurrence follows, since the tag text may hold no quote (checked below).
    s, e = last - 55, last - 39
  else
    s, e = find(raw, TAIL, math.max(1, last - 300), true)
    if not s then return nil end
    -- The last occurrence in the window.
    while true do
      local s2, e2 = find(raw, TAIL, e + 1, true)
      if not s2 then break end
      s, e = s2, e2
    end
  end
  local tag = sub(raw, e + 1, last - 3)
  -- Two plain searches (memchr), where a pattern with a class was tried at every position.
  if tag == '' or find(tag, '"', 1, true) or find(tag, '\\', 1, true) then return nil end
  -- The key's opening quote must follow ',' or '{'.
  local b = s - 1
  while b > 0 and byte(raw, b) <= 32 do b = b - 1 end
  local c = byte(raw, b)
  if c ~= 44 and c ~= 123 then return nil end
  return tag
end

-- Tag and unacked value of an envelope that does not end as Celery's do.
local function decoded(raw, token, qi)
  local ok, env = pcall(cjson.decode, raw)
  if ok and type(env) == 'table' and type(env.properties) == 'table'
      and type(env.properties.delivery_tag) == 'string' then
    return env.properties.delivery_tag, '[' .. raw .. ', "", ' .. ARGV[6 + qi] .. ']'
  end
  return 'celeriac-malformed-' .. token, '[' .. cjson.encode(raw) .. ', "", ""]'
end

-- The batch's writes, one list of arguments per key, sent variadically at the end.
local w_unacked, w_index, w_leases, w_data = {}, {}, {}, {}

-- Offsets as text, made once each (a number in table.concat is formatted every time).
local offset_texts = {}
local function offset_text(offset)
  local text = offset_texts[offset]
  if not text then
    text = tostring(offset)
    offset_texts[offset] = text
  end
  return text
end

-- Where each message's tag sits in the reply: header[tag_at[i]] or others[-tag_at[i]].
local tag_at = {}

local function record(offset, qi, raw)
  local token = ARGV[5] .. '.' .. got
  local tag = tail_tag(raw)
  local value
  local h = #header
  header[h + 1] = offset_text(offset)
  if tag then
    value = '[' .. raw .. ', "", ' .. ARGV[6 + qi] .. ']'
    header[h + 2] = ':'
    header[h + 3] = tag
    header[h + 4] = '"'
    tag_at[got + 1] = h + 3
  else
    tag, value = decoded(raw, token, qi)
    header[h + 2] = '"'
    others[#others + 1] = tag
    tag_at[got + 1] = -#others
  end
  local m = #w_unacked
  w_unacked[m + 1] = tag
  w_unacked[m + 2] = value
  w_index[m + 1] = ARGV[3]
  w_index[m + 2] = tag
  w_leases[m + 1] = ARGV[4]
  w_leases[m + 2] = tag
  w_data[m + 1] = tag
  w_data[m + 2] = token .. ' ' .. KEYS[6 + offset]
  out[got + 2] = raw
  got = got + 1
end

-- Bucket keys of another type (someone SET a string at a queue's key): skipped, never an
-- error in the middle of the script, which would lose what was popped before it. Any other
-- refusal of a pop (READONLY on a replica after a failover) is kept as it is and returned
-- when nothing was popped: it used to be reported as a wrong type ("holds a list, not a
-- list", "holds a none").
local wrong, wrong_seen = {}, {}
local refused
local function wrong_type(key, reply)
  if type(reply) == 'table' and reply.err then
    if not string.find(reply.err, 'WRONGTYPE', 1, true) then
      refused = refused or reply.err
    elseif not wrong_seen[key] then
      wrong_seen[key] = true
      wrong[#wrong + 1] = key
    end
    return true
  end
  return false
end

-- One RPOP of `key`: the message, or nil (empty, or a key of another type).
local function pop_one(key)
  local raw = redis.pcall('RPOP', key)
  if wrong_type(key, raw) then return nil end
  return raw
end

-- Up to `count` pops from `key` in pop order: one RPOP <count> where the server has it.
local bulk = true
local function pop_many(key, count)
  if bulk then
    local r = redis.pcall('RPOP', key, count)
    if type(r) ~= 'table' or not r.err then return r or {} end
    if string.find(r.err, 'WRONGTYPE', 1, true) then
      wrong_type(key, r)
      return {}
    end
    bulk = false
  end
  local r = {}
  for i = 1, count do
    local raw = pop_one(key)
    if not raw then break end
    r[i] = raw
  end
  return r
end

-- Set when one EXISTS found none of the keys that are usually absent: the other steps'
-- buckets, celeriac.deliveries and the doorbells. Then neither the doorbells' DEL nor the
-- delivery counts' lookup below is called: each call from Lua costs Redis about as much as
-- a small command, and a wake-up's fetch of one message made eight.
local quiet = false
if q == 1 then
  -- One queue: rotation is moot, so each bucket is emptied in bulk, step 0 first. When step 0
  -- did not fill the batch, one EXISTS tells whether the other steps hold anything: they
  -- rarely do, and it saves three RPOPs of empty keys (a wake-up's fetch of one message).
  for s = 0, 3 do
    if got >= n then break end
    if s == 1 then
      if redis.call('EXISTS', KEYS[7], KEYS[8], KEYS[9], KEYS[5], unpack(KEYS, 10)) == 0 then
        quiet = true
        break
      end
      if redis.call('EXISTS', KEYS[7], KEYS[8], KEYS[9]) == 0 then break end
    end
    for _, raw in ipairs(pop_many(KEYS[6 + s], n - got)) do record(s, 0, raw) end
  end
else
  while got < n do
    local hit = false
    for s = 0, 3 do
      for k = 0, q - 1 do
        local qi = (start + k) % q
        local offset = s * q + qi
        local raw = not wrong_seen[KEYS[6 + offset]] and pop_one(KEYS[6 + offset])
        if raw then
          record(offset, qi, raw)
          start = qi + 1
          hit = true
          break
        end
      end
      if hit then break end
    end
    if not hit then break end
  end
end

-- Variadic writes in chunks (Lua's unpack has a stack limit).
local function write(cmd, key, list)
  for i = 1, #list, 1000 do
    redis.call(cmd, key, unpack(list, i, math.min(i + 999, #list)))
  end
end
-- A tag already held (in unacked) or twice in this batch: two different messages carry the
-- same delivery tag (a buggy producer, a message copied by hand). Held under one tag, one of
-- them would lose its bookkeeping; so the later one is held under `<tag>~dup.<token>`.
-- One message (a wake-up's fetch): HSETNX both writes it and says whether its tag is held.
local unacked_written = false
if got == 1 then
  unacked_written = true
  if redis.call('HSETNX', KEYS[1], w_unacked[1], w_unacked[2]) == 0 then
    local new = w_unacked[1] .. '~dup.' .. ARGV[5] .. '.0'
    w_unacked[1] = new
    w_index[2] = new
    w_leases[2] = new
    w_data[1] = new
    if tag_at[1] > 0 then header[tag_at[1]] = new else others[-tag_at[1]] = new end
    redis.call('HSET', KEYS[1], new, w_unacked[2])
  end
elseif got > 1 then
  local tags = {}
  for i = 1, #w_unacked, 2 do tags[#tags + 1] = w_unacked[i] end
  local held, seen = {}, {}
  for i = 1, #tags, 1000 do
    for _, v in ipairs(redis.call('HMGET', KEYS[1], unpack(tags, i, math.min(i + 999, #tags)))) do held[#held + 1] = v end
  end
  for i, tag in ipairs(tags) do
    if held[i] or seen[tag] then
      local new = tag .. '~dup.' .. ARGV[5] .. '.' .. (i - 1)
      w_unacked[2 * i - 1] = new
      w_index[2 * i] = new
      w_leases[2 * i] = new
      w_data[2 * i - 1] = new
      if tag_at[i] > 0 then header[tag_at[i]] = new else others[-tag_at[i]] = new end
      tag = new
    end
    seen[tag] = true
  end
end
if not unacked_written then write('HSET', KEYS[1], w_unacked) end
write('ZADD', KEYS[2], w_index)
write('ZADD', KEYS[3], w_leases)
write('HSET', KEYS[4], w_data)
if got < n and not quiet then
  for i = 6 + 4 * q, #KEYS do redis.pcall('DEL', KEYS[i]) end
end
if got == 0 then
  if refused then return redis.error_reply(refused) end
  if #wrong > 0 then
    return redis.error_reply('WRONGTYPE ' .. wrong[1] .. ' holds a ' .. redis.call('TYPE', wrong[1]).ok .. ', not a list: nothing can be taken from that queue, and nothing was lost; delete or rename that key')
  end
  return {}
end
-- Deliveries so far of the fetched tags, only when some message was ever given back.
local counts = ''
if not quiet and redis.call('EXISTS', KEYS[5]) == 1 then
  local tags, found, any = {}, {}, false
  for i = 1, #w_unacked, 2 do tags[#tags + 1] = w_unacked[i] end
  for i = 1, #tags, 1000 do
    for _, c in ipairs(redis.call('HMGET', KEYS[5], unpack(tags, i, math.min(i + 999, #tags)))) do
      if c then any = true end
      found[#found + 1] = c or '0'
    end
  end
  if any then counts = '#' .. table.concat(found, ',') end
end
out[1] = table.concat(header) .. counts
for i = 1, #others do out[got + 1 + i] = others[i] end
return out
