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
KEYS[5..] bucket lists, step-major: for step in 0,3,6,9: for queue in rotation order
ARGV[1]  Q: number of queues
ARGV[2]  N: most messages to pop
ARGV[3]  now, epoch seconds (float): the unacked_index score
ARGV[4]  lease expiry, epoch ms
ARGV[5]  token prefix, unique per call; message i gets token "<prefix>.<i>"
ARGV[6..5+Q] each queue's name (rotation order) as a JSON string: the routing key in unacked

Returns a flat array, 4 entries per message in pop order:
  key offset (0-based index into KEYS[5..]), envelope, delivery tag, token
]]
local q = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local out = {}
local start = 0
local got = 0
local TAIL = '"delivery_tag": "'

-- The tag at the envelope's end, or nil when the envelope does not end that way.
local function tail_tag(raw)
  local last = #raw
  while last > 0 and raw:byte(last) <= 32 do last = last - 1 end
  if last < 4 or raw:sub(last - 2, last) ~= '"}}' or raw:byte(1) ~= 123 then return nil end
  local from = math.max(1, last - 300)
  local s, e = raw:find(TAIL, from, true)
  if not s then return nil end
  -- The last occurrence in the window; the key's opening quote must follow ',' or '{'.
  while true do
    local s2, e2 = raw:find(TAIL, e + 1, true)
    if not s2 then break end
    s, e = s2, e2
  end
  local tag = raw:sub(e + 1, last - 3)
  if tag == '' or tag:find('["\\]') then return nil end
  local b = s - 1
  while b > 0 and raw:byte(b) <= 32 do b = b - 1 end
  local c = raw:byte(b)
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

local function record(offset, qi, raw)
  local token = ARGV[5] .. '.' .. got
  local tag = tail_tag(raw)
  local value
  if tag then
    value = '[' .. raw .. ', "", ' .. ARGV[6 + qi] .. ']'
  else
    tag, value = decoded(raw, token, qi)
  end
  redis.call('HSET', KEYS[1], tag, value)
  redis.call('ZADD', KEYS[2], ARGV[3], tag)
  redis.call('ZADD', KEYS[3], ARGV[4], tag)
  redis.call('HSET', KEYS[4], tag, token .. ' ' .. KEYS[5 + offset])
  out[#out + 1] = offset
  out[#out + 1] = raw
  out[#out + 1] = tag
  out[#out + 1] = token
end

while got < n do
  local hit = false
  for s = 0, 3 do
    for k = 0, q - 1 do
      local qi = (start + k) % q
      local offset = s * q + qi
      local raw = redis.call('RPOP', KEYS[5 + offset])
      if raw then
        record(offset, qi, raw)
        got = got + 1
        start = qi + 1
        hit = true
        break
      end
    end
    if hit then break end
  end
  if not hit then break end
end
return out
