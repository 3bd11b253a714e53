--[[
restore-stale: the visibility sweep. Gives back to the FRONT of their queue (RPUSH, as
kombu's restore) deliveries whose holder is presumed dead, in two tiers:
  1. Celeriac-held tags (in celeriac.lease.data: "<token> <bucket key>") whose lease
     expired: their holder stopped
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
because Lua scripts are atomic anyway. Envelopes are marked redelivered as kombu's restore
marks them (headers.redelivered and properties.delivery_info.redelivered = true, appended as
the last key of each object, where Python's dict puts a new key) by editing the JSON text:
cjson would not re-serialize it losslessly (key order, number formats). A flag already
present is left as it is; an envelope whose headers are not an object goes back unchanged.

KEYS[1]  unacked (hash)
KEYS[2]  unacked_index (zset)
KEYS[3]  celeriac.leases (zset)
KEYS[4]  celeriac.lease.data (hash)
KEYS[5]  unacked_mutex (string)
KEYS[6]  celeriac.deliveries (hash tag -> deliveries given back so far): a restore counts one
         when the message may have been running as its holder died, so a message whose worker
         dies every time it runs is dead-lettered by the next worker that takes it past
         workerMaxDeliveries (worker/redelivery.ts), while the messages that only waited in
         that worker's prefetch are not: a tier-1 restore counts a message given back for the
         first time (nothing tells whether it started), and after that only when its task
         started under the lapsed lease (count-start.lua marked it). Tier 2 counts every
         restore (a Python holder marks nothing).
KEYS[7]  celeriac.started (hash tag -> token of the holding whose task started: count-start.lua)
ARGV[1]  now, epoch ms (lease cutoff)
ARGV[2]  visibility cutoff, epoch seconds (now - visibility_timeout)
ARGV[3]  mutex token (unique per call)
ARGV[4]  mutex TTL ms
ARGV[5]  most tags handled per tier
ARGV[6..18] the name template of redis/keys.ts BrokerKeys.restoreTemplate(), from which tier 2
         builds kombu's names (test/redis/key-parity.test.ts checks they equal the module's):
ARGV[6]  queue prefix (kombu's global_keyprefix): a bucket list is prefix .. queue .. suffix
ARGV[7]  binding-set prefix: the set of an exchange is this .. exchange
ARGV[8]  separator inside binding members ("\x06\x16")
ARGV[9..18] bucket suffix by priority 0..9 ('' or "\x06\x16<step>")
ARGV[19] the count hash's expiry, ms
ARGV[20] optional: the doorbells' key prefix (bell.ts: a doorbell is this .. queue). Each queue
         given messages back gets a token per message up to 64 (bells.lua), as a publish rings it, so
         idle consumers of every process take them at once, not at their poll.
ARGV[21] with ARGV[20]: the wake-up channels' prefix (a channel is this .. queue), for consumers
         on Sentinel: one PUBLISH per queue given messages back

Returns { restored by tier 1, restored by tier 2 }, or { -1, -1 } when the mutex is held.
]]
local queue_prefix, binding_prefix, sep = ARGV[6], ARGV[7], ARGV[8]
local byte, find = string.byte, string.find

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
  -- Trimmed by index: a pattern such as '^%s*(.-)%s*$' tries its end at every character, a
  -- pass per byte over an envelope of tens of MB while Redis serves nobody else.
  local a, b = 2, i - 1
  while a <= b and v:sub(a, a):match('%s') do a = a + 1 end
  while b >= a and v:sub(b, b):match('%s') do b = b - 1 end
  local env = v:sub(a, b)
  if env:byte(1) == 34 then env = cjson.decode(env) end
  return env, fields[2], fields[1]
end

-- Index just past the JSON string starting at i (s[i] == '"'), or nil: the next quote not
-- escaped by an odd run of backslashes. A plain string.find jumps to each quote in C (a class
-- such as '["\\]' is matched a character at a time, ten times slower): a message's body
-- (base64, often megabytes, the envelope's first member, so every lookup of headers or
-- properties crosses it) has no quote, where a loop over its bytes in Lua held Redis for
-- seconds (ten for a 40 MB argument).
local function after_string(s, i)
  local from = i + 1
  while true do
    local q = find(s, '"', from, true)
    if not q then return nil end
    local k = q - 1
    while k > i and byte(s, k) == 92 do k = k - 1 end
    if (q - 1 - k) % 2 == 0 then return q + 1 end
    from = q + 1
  end
end

local function skip_ws(s, i)
  while i <= #s and s:sub(i, i):match('%s') do i = i + 1 end
  return i
end

-- Index just past the JSON value starting at i, or nil.
local function after_value(s, i)
  local c = s:byte(i)
  if c == 34 then return after_string(s, i) end
  if c ~= 123 and c ~= 91 then return s:find('[,}%]%s]', i) or (#s + 1) end
  -- From one bracket or quote to the next (found in C), not byte by byte.
  local depth = 0
  while true do
    local j = find(s, '[{}%[%]"]', i)
    if not j then return nil end
    c = byte(s, j)
    if c == 34 then
      i = after_string(s, j)
      if not i then return nil end
    else
      if c == 123 or c == 91 then
        depth = depth + 1
      else
        depth = depth - 1
        if depth == 0 then return j + 1 end
      end
      i = j + 1
    end
  end
end

-- In the object whose '{' is at o: the index of the '{' of member `key`'s object value.
local function member_object(s, o, key)
  local i = skip_ws(s, o + 1)
  while i <= #s and s:byte(i) == 34 do
    local k_end = after_string(s, i)
    if not k_end then return nil end
    local k = cjson.decode(s:sub(i, k_end - 1))
    i = skip_ws(s, k_end)
    if s:byte(i) ~= 58 then return nil end
    i = skip_ws(s, i + 1)
    if k == key then
      if s:byte(i) == 123 then return i end
      return nil
    end
    i = after_value(s, i)
    if not i then return nil end
    i = skip_ws(s, i)
    if s:byte(i) == 44 then i = skip_ws(s, i + 1) end
  end
  return nil
end

-- Text of the object at o with '"redelivered": true' appended, as kombu's json.dumps writes it.
local function insert_flag(s, o)
  local close = after_value(s, o)
  if not close then return nil end
  close = close - 1
  local inner_end = close - 1
  while inner_end > o and s:sub(inner_end, inner_end):match('%s') do inner_end = inner_end - 1 end
  local sep = (inner_end == o) and '' or ', '
  return s:sub(1, inner_end) .. sep .. '"redelivered": true' .. s:sub(close)
end

local function marked(env)
  local ok, parsed = pcall(cjson.decode, env)
  if not ok or type(parsed) ~= 'table' or type(parsed.headers) ~= 'table' then return env end
  local root = skip_ws(env, 1)
  local h = member_object(env, root, 'headers')
  local p = member_object(env, root, 'properties')
  local d = p and member_object(env, p, 'delivery_info')
  if not h then return env end
  local info = type(parsed.properties) == 'table' and parsed.properties.delivery_info
  -- The later object first, so the earlier index stays valid.
  local edits = {}
  if parsed.headers.redelivered == nil then edits[#edits + 1] = h end
  if d and type(info) == 'table' and info.redelivered == nil then edits[#edits + 1] = d end
  table.sort(edits, function(a, b) return a > b end)
  local out = env
  for _, o in ipairs(edits) do
    out = insert_flag(out, o)
    if not out then return env end
  end
  return out
end

-- kombu's priority of a message (int(), clamped to 0..9) picks the suffix.
local function bucket(queue, priority)
  local p = tonumber(priority) or 0
  p = math.max(0, math.min(9, math.floor(p)))
  return queue_prefix .. queue .. ARGV[9 + p]
end

local function kombu_queues(exchange, routing_key)
  if exchange == '' then return { routing_key } end
  local found = {}
  for _, member in ipairs(redis.call('SMEMBERS', binding_prefix .. exchange)) do
    local rk, rest = member:match('^(.-)' .. sep .. '(.*)$')
    if rk == routing_key then
      local queue = rest:match('^.-' .. sep .. '(.*)$')
      if queue then found[#found + 1] = queue end
    end
  end
  if #found == 0 then found[1] = routing_key end
  return found
end

-- The bucket a lease was taken from: lease data is "<token> <bucket key>" (before 0.2: a
-- JSON array [token, bucket key]).
local function source_bucket(data)
  if data:byte(1) == 91 then
    local ok, pair = pcall(cjson.decode, data)
    return ok and type(pair) == 'table' and type(pair[2]) == 'string' and pair[2] or nil
  end
  local space = data:find(' ', 1, true)
  return space and data:sub(space + 1) or nil
end

local function count(tag)
  redis.call('HINCRBY', KEYS[6], tag, 1)
  redis.call('PEXPIRE', KEYS[6], ARGV[19])
end
-- Whether the dead holder (lease token `token`) may have been running the message: it was
-- never given back before, or its start under this holding was marked.
local function ran(tag, token)
  if redis.call('HEXISTS', KEYS[6], tag) == 0 then return true end
  return token ~= nil and redis.call('HGET', KEYS[7], tag) == token
end
local function forget(tag)
  redis.call('HDEL', KEYS[7], tag)
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
  elseif data and env and source_bucket(data) then
    -- pcall: a bucket key of another type (someone SET a string there) leaves this message
    -- held, and the sweep goes on with the others.
    local source = source_bucket(data)
    local pushed = redis.pcall('RPUSH', source, marked(env))
    if type(pushed) ~= 'table' or not pushed.err then
      local queue = bell_queue_of(source, queue_prefix)
      if queue then bell_note(queue) end
      if ran(tag, data:match('^(%S+) ')) then count(tag) end
      ours = ours + 1
      forget(tag)
    end
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
        local out = marked(env)
        for _, queue in ipairs(kombu_queues(exchange, routing_key)) do
          if queue ~= '' then
            redis.call('RPUSH', bucket(queue, priority), out)
            bell_note(queue)
          end
        end
        count(tag)
        theirs = theirs + 1
        forget(tag)
      end
    end
  end
end

if ARGV[20] then ring_bells(ARGV[20], ARGV[21]) end

if redis.call('GET', KEYS[5]) == ARGV[3] then redis.call('DEL', KEYS[5]) end
return { ours, theirs }
