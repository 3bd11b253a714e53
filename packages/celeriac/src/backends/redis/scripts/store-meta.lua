-- store-meta.lua: store a task's result meta and publish it, unless SUCCESS is already stored.
-- Celery does GET, then SETEX + PUBLISH (celery-protocol.md §3.1); doing it in one script makes
-- "a stored SUCCESS is never overwritten" hold even against a concurrent writer.
--
-- KEYS[1]  celery-task-meta-<task id>: the key, and the channel the meta is published on
-- ARGV[1]  the meta JSON, exactly as stored and published
-- ARGV[2]  time to live in milliseconds, or "" to keep the meta forever
-- Returns  1 when stored and published; 0 when skipped because the stored status is SUCCESS

local current = redis.call('GET', KEYS[1])
if current then
  local ok, decoded = pcall(cjson.decode, current)
  if ok then
    if type(decoded) == 'table' and decoded['status'] == 'SUCCESS' then return 0 end
  elseif string.find(current, '"status"%s*:%s*"SUCCESS"') then
    -- cjson refuses some valid JSON (very deep nesting): fall back to a textual check.
    return 0
  end
end

if ARGV[2] == '' then
  redis.call('SET', KEYS[1], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
redis.call('PUBLISH', KEYS[1], ARGV[1])
return 1
