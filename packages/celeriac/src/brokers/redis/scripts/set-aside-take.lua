--[[
set-aside-take: remove records from celeriac.setaside by id (or all of them), and with
'replay' push each one's envelope to the BACK of its queue (LPUSH, as a publish), in the
bucket of its properties.priority, as restore-stale.lua routes kombu's messages. The record
is removed and its message queued in this one step, so a replay is never lost nor doubled.
A record that is not a readable {raw, queue} object, or one whose raw holds only the start of
its envelope (`truncated`: core/set-aside.ts), is only removed (purge) or left where it is
(replay). celeriac.setaside.bytes is kept equal to the sum of the remaining records.

KEYS[1]  one part of the store: celeriac.setaside or celeriac.deadletters (list)
KEYS[2]  its byte counter: celeriac.setaside.bytes or celeriac.deadletters.bytes (string)
ARGV[1]  'replay' or 'purge'
ARGV[2]  queue prefix (kombu's global_keyprefix)
ARGV[3..12] bucket suffix by priority 0..9
ARGV[13] the doorbells' key prefix (bell.ts): each queue replayed to gets a token per message
         (bells.lua, written before this script), so idle consumers take them at once
ARGV[14] the wake-up channels' prefix (a channel is this .. queue): each queue replayed to gets
         one PUBLISH there, for consumers on Sentinel
ARGV[15] '*' for every record, else '' and the ids follow
ARGV[16..] ids (first 16 hex digits of each record's SHA-1)

Returns the records taken (their stored text), oldest first.
]]
local replay = ARGV[1] == 'replay'
if not replay and ARGV[1] ~= 'purge' then return redis.error_reply('set-aside-take: ARGV[1] must be replay or purge') end
local all = ARGV[15] == '*'
local wanted = {}
for i = 16, #ARGV do wanted[ARGV[i]] = true end

local function bucket(queue, priority)
  local p = tonumber(priority) or 0
  p = math.max(0, math.min(9, math.floor(p)))
  return ARGV[2] .. queue .. ARGV[3 + p]
end

-- The queue and priority of a record, or nil when it cannot be replayed.
local function target(item)
  local ok, r = pcall(cjson.decode, item)
  if not ok or type(r) ~= 'table' or type(r.raw) ~= 'string' or type(r.queue) ~= 'string' or r.queue == '' or r.truncated ~= nil then return nil end
  local priority = 0
  local ok2, env = pcall(cjson.decode, r.raw)
  if ok2 and type(env) == 'table' and type(env.properties) == 'table' then priority = env.properties.priority end
  return r.raw, bucket(r.queue, priority), r.queue
end

local taken, freed = {}, 0
for _, item in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if all or wanted[redis.sha1hex(item):sub(1, 16)] then
    local raw, key, queue = target(item)
    if not replay or raw then
      redis.call('LREM', KEYS[1], 1, item)
      if replay then
        redis.call('LPUSH', key, raw)
        bell_note(queue)
      end
      taken[#taken + 1] = item
      freed = freed + #item
    end
  end
end
ring_bells(ARGV[13], ARGV[14])
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
elseif freed > 0 and redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('DECRBY', KEYS[2], freed)
end
return taken
