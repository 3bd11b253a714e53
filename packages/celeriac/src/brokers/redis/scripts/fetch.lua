--[[
fetch: pop up to N messages from the first non-empty bucket of the given queues, in
kombu's BRPOP order (priority step first, then queue; queues rotated after each hit),
and record each one as held in the SAME script, so a popped message never lives only in
a worker's memory (kill -9 included):
  * kombu's bookkeeping: HSET unacked <tag> [<envelope>, "<exchange>", "<routing_key>"]
    and ZADD unacked_index <now seconds> <tag> (what kombu writes, so Python workers'
    visibility sweep sees it too);
  * ours: ZADD celeriac.leases <lease expiry ms> <tag> and
    HSET celeriac.lease.data <tag> [<token>, <bucket key>].
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

Returns a flat array, 5 entries per message in pop order:
  key offset (0-based index into KEYS[5..]), envelope, delivery tag, token,
  redelivered (1 when headers.redelivered or delivery_info.redelivered is true, else 0)
]]
local q = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local out = {}
local start = 0
local got = 0

local function str(v)
  if type(v) == 'string' then return v end
  return ''
end

local function record(offset, raw)
  local token = ARGV[5] .. '.' .. got
  local ok, env = pcall(cjson.decode, raw)
  local tag, value, redelivered = nil, nil, 0
  if ok and type(env) == 'table' and type(env.properties) == 'table'
      and type(env.properties.delivery_tag) == 'string' then
    tag = env.properties.delivery_tag
    local info = env.properties.delivery_info
    if type(info) ~= 'table' then info = {} end
    value = '[' .. raw .. ', ' .. cjson.encode(str(info.exchange)) .. ', ' .. cjson.encode(str(info.routing_key)) .. ']'
    if info.redelivered == true or (type(env.headers) == 'table' and env.headers.redelivered == true) then
      redelivered = 1
    end
  else
    tag = 'celeriac-malformed-' .. token
    value = '[' .. cjson.encode(raw) .. ', "", ""]'
  end
  redis.call('HSET', KEYS[1], tag, value)
  redis.call('ZADD', KEYS[2], ARGV[3], tag)
  redis.call('ZADD', KEYS[3], ARGV[4], tag)
  redis.call('HSET', KEYS[4], tag, cjson.encode({ token, KEYS[5 + offset] }))
  out[#out + 1] = offset
  out[#out + 1] = raw
  out[#out + 1] = tag
  out[#out + 1] = token
  out[#out + 1] = redelivered
end

while got < n do
  local hit = false
  for s = 0, 3 do
    for k = 0, q - 1 do
      local qi = (start + k) % q
      local offset = s * q + qi
      local raw = redis.call('RPOP', KEYS[5 + offset])
      if raw then
        record(offset, raw)
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
