-- store-metas.lua: store task result metas and publish each, skipping a meta whose key
-- already holds SUCCESS. Celery does GET, then SETEX + PUBLISH per result (docs/protocol.md
-- §3.1); one script makes "a stored SUCCESS is never overwritten" hold even against a
-- concurrent writer, and taking many metas per call lets a busy worker store every result
-- finished in one event-loop turn with one round trip. Metas are applied in order, so two
-- metas of one task in one call behave as two calls.
--
-- KEYS[i]      celery-task-meta-<task id>: the key, and the channel its meta is published on
-- ARGV[2i-1]   the meta JSON for KEYS[i], exactly as stored and published
-- ARGV[2i]     its time to live in milliseconds, or "" to keep it forever
-- Returns      one entry per key: 1 when stored and published, 0 when skipped (SUCCESS stored)

local function succeeded(current)
  local ok, decoded = pcall(cjson.decode, current)
  if ok then return type(decoded) == 'table' and decoded['status'] == 'SUCCESS' end
  -- cjson refuses some valid JSON (very deep nesting): fall back to a textual check.
  return string.find(current, '"status"%s*:%s*"SUCCESS"') ~= nil
end

-- SET, with the TTL when there is one; `NX` only writes a key that does not exist yet.
local function set(key, text, ttl, nx)
  if ttl == '' then
    if nx then return redis.call('SET', key, text, 'NX') end
    return redis.call('SET', key, text)
  end
  if nx then return redis.call('SET', key, text, 'PX', ttl, 'NX') end
  return redis.call('SET', key, text, 'PX', ttl)
end

local out = {}
for i = 1, #KEYS do
  local key, text, ttl = KEYS[i], ARGV[2 * i - 1], ARGV[2 * i]
  -- Most results are the task's first meta: SET NX stores it without a GET. A key that
  -- exists is read and overwritten unless it holds SUCCESS, as GET-then-SET would.
  local stored = set(key, text, ttl, true)
  if not stored then
    local current = redis.call('GET', key)
    if current and succeeded(current) then
      out[i] = 0
    else
      set(key, text, ttl, false)
      stored = true
    end
  end
  if stored then
    redis.call('PUBLISH', key, text)
    out[i] = 1
  end
end
return out
