--[[
restore-stale: the visibility sweep. Gives back to the FRONT of their queue (RPUSH, as
kombu's restore) deliveries whose holder is presumed dead, in two tiers:
  1. Celeriac-held tags (in celeriac.lease.data) whose lease expired: their holder stopped
     renewing, so it is gone (the fast tier, seconds). The envelope goes back to the exact
     bucket it was popped from. Unless the tag's unacked_index score is later than the lease
     expiry: our holder's fetch and renewals always write a score before its expiry, so a
     later one means another worker (a Python worker, after its own sweep restored the
     message of our dead holder) took the same tag since; only our stale lease is dropped,
     and that worker's entry is left to tier 2.
  2. Tags NOT held by Celeriac (written by a Python/kombu worker, which never renews the
     unacked_index score) only once that score is older than the visibility timeout, as
     kombu's own sweep does. Routed as kombu's restore: exchange "" -> the routing key as
     queue; otherwise the queues of _kombu.binding.<exchange> whose routing key matches
     (falling back to the routing key as queue name); bucket from properties.priority.
Like kombu, the sweep runs under unacked_mutex (SET NX PX; compare-and-delete release), so
it never overlaps a Python worker's restore in progress; both happen inside this one script
because Lua scripts are atomic anyway. Envelopes are pushed back unchanged (cjson would not
re-serialize them losslessly).

KEYS[1]  unacked (hash)
KEYS[2]  unacked_index (zset)
KEYS[3]  celeriac.leases (zset)
KEYS[4]  celeriac.lease.data (hash)
KEYS[5]  unacked_mutex (string)
ARGV[1]  now, epoch ms (lease cutoff)
ARGV[2]  visibility cutoff, epoch seconds (now - visibility_timeout)
ARGV[3]  mutex token (unique per call)
ARGV[4]  mutex TTL ms
ARGV[5]  most tags handled per tier
ARGV[6]  global_keyprefix (mirrors keys.ts bucket() and binding())
ARGV[7]  kombu separator "\x06\x16"

Returns { restored by tier 1, restored by tier 2 }, or { -1, -1 } when the mutex is held.
]]
local prefix, sep = ARGV[6], ARGV[7]

-- The opening quote of the JSON string whose closing quote is at i: the first quote to the
-- left not escaped by an odd run of backslashes (a raw quote cannot occur inside).
local function open_quote(s, i)
  local j = i - 1
  while j > 0 do
    if s:byte(j) == 34 then
      local k, n = j - 1, 0
      while k > 0 and s:byte(k) == 92 do n = n + 1; k = k - 1 end
      if n % 2 == 0 then return j end
    end
    j = j - 1
  end
  return nil
end

local function skip_ws_back(s, i)
  while i > 0 and s:sub(i, i):match('%s') do i = i - 1 end
  return i
end

-- Splits '[<envelope>, "<exchange>", "<routing_key>"]' from the right, keeping the
-- envelope's exact text. Returns envelope text, exchange, routing key, or nil.
local function split_unacked(v)
  local i = skip_ws_back(v, #v)
  if v:byte(i) ~= 93 then return nil end
  local fields = {}
  for f = 1, 2 do
    i = skip_ws_back(v, i - 1)
    if v:byte(i) ~= 34 then return nil end
    local j = open_quote(v, i)
    if not j then return nil end
    fields[f] = cjson.decode(v:sub(j, i))
    i = skip_ws_back(v, j - 1)
    if v:byte(i) ~= 44 then return nil end
  end
  local env = v:sub(2, i - 1):match('^%s*(.-)%s*$')
  if env:byte(1) == 34 then env = cjson.decode(env) end
  return env, fields[2], fields[1]
end

local function bucket(queue, priority)
  local p = tonumber(priority) or 0
  p = math.max(0, math.min(9, math.floor(p)))
  local step = 0
  for _, s in ipairs({ 0, 3, 6, 9 }) do if s <= p then step = s end end
  if step == 0 then return prefix .. queue end
  return prefix .. queue .. sep .. step
end

local function kombu_queues(exchange, routing_key)
  if exchange == '' then return { routing_key } end
  local found = {}
  for _, member in ipairs(redis.call('SMEMBERS', prefix .. '_kombu.binding.' .. exchange)) do
    local rk, rest = member:match('^(.-)' .. sep .. '(.*)$')
    if rk == routing_key then
      local queue = rest:match('^.-' .. sep .. '(.*)$')
      if queue then found[#found + 1] = queue end
    end
  end
  if #found == 0 then found[1] = routing_key end
  return found
end

local function forget(tag)
  redis.call('ZREM', KEYS[3], tag)
  redis.call('HDEL', KEYS[4], tag)
  redis.call('HDEL', KEYS[1], tag)
  redis.call('ZREM', KEYS[2], tag)
end

if not redis.call('SET', KEYS[5], ARGV[3], 'NX', 'PX', ARGV[4]) then return { -1, -1 } end

local ours = 0
for _, tag in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[5]))) do
  local data = redis.call('HGET', KEYS[4], tag)
  local value = redis.call('HGET', KEYS[1], tag)
  local env = value and split_unacked(value)
  local taken = redis.call('ZSCORE', KEYS[2], tag)
  local expiry = redis.call('ZSCORE', KEYS[3], tag)
  if value and taken and expiry and tonumber(taken) * 1000 > tonumber(expiry) then
    redis.call('ZREM', KEYS[3], tag)
    redis.call('HDEL', KEYS[4], tag)
  elseif data and env then
    redis.call('RPUSH', cjson.decode(data)[2], env)
    ours = ours + 1
    forget(tag)
  elseif value then
    -- Unreadable: leave kombu's entry to the visibility-timeout tier, drop only our lease.
    redis.call('ZREM', KEYS[3], tag)
    redis.call('HDEL', KEYS[4], tag)
  else
    forget(tag)
  end
end

local theirs = 0
for _, tag in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[5]))) do
  if redis.call('HEXISTS', KEYS[4], tag) == 0 then
    local value = redis.call('HGET', KEYS[1], tag)
    if not value then
      redis.call('ZREM', KEYS[2], tag)
    else
      local env, exchange, routing_key = split_unacked(value)
      if env then
        local ok, parsed = pcall(cjson.decode, env)
        local priority = 0
        if ok and type(parsed) == 'table' and type(parsed.properties) == 'table' then
          priority = parsed.properties.priority
        end
        for _, queue in ipairs(kombu_queues(exchange, routing_key)) do
          if queue ~= '' then redis.call('RPUSH', bucket(queue, priority), env) end
        end
        theirs = theirs + 1
        forget(tag)
      end
    end
  end
end

if redis.call('GET', KEYS[5]) == ARGV[3] then redis.call('DEL', KEYS[5]) end
return { ours, theirs }
