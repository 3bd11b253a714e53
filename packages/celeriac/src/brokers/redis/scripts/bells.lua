--[[
bells: the doorbell helpers of the scripts that put messages in queues (promote-due,
restore-stale, release, set-aside-take), written before each of them by its loader
(transitions.ts `withBells`). They ring as a Celeriac publisher does (bell.ts): a token per message, at most
64 per call, and a doorbell past 64 tokens is trimmed to one (nobody is taking them); and one
PUBLISH on the queue's wake-up channel, which consumers on Sentinel wait on (wake-subscriber.ts):
without it they had to poll fast for these messages. A doorbell that cannot be rung (a key of
another type) costs its consumers a poll, never the script's own work, which is done by then.
]]
local bell_counts, bell_order = {}, {}

-- Notes a message put in `queue`; ring_bells rings its doorbell.
local function bell_note(queue)
  local n = bell_counts[queue]
  if not n then bell_order[#bell_order + 1] = queue end
  bell_counts[queue] = (n or 0) + 1
end

-- The queue a bucket key (prefix .. queue [.. "\6\22" .. step], redis/keys.ts) belongs to, or nil.
local function bell_queue_of(bucket, queue_prefix)
  if string.sub(bucket, 1, #queue_prefix) ~= queue_prefix then return nil end
  local name = string.sub(bucket, #queue_prefix + 1)
  return string.match(name, '^(.*)\6\22%d+$') or name
end

-- Pushes `n` tokens, at most 64, to the doorbell list `bell`, then PUBLISHes on the wake-up
-- channel `wake` when one is given.
local function ring_bell(bell, n, wake)
  local tokens = {}
  for i = 1, math.min(n, 64) do tokens[i] = '' end
  local length = redis.pcall('LPUSH', bell, unpack(tokens))
  if type(length) == 'number' and length > 64 then redis.call('LTRIM', bell, 0, 0) end
  if wake and wake ~= '' then redis.pcall('PUBLISH', wake, '') end
end

-- Rings the doorbell (`prefix` .. queue) of each queue noted, a token per message noted, and
-- wakes its channel (`wake_prefix` .. queue) when a prefix is given.
local function ring_bells(prefix, wake_prefix)
  for _, queue in ipairs(bell_order) do
    ring_bell(prefix .. queue, bell_counts[queue], wake_prefix and wake_prefix ~= '' and wake_prefix .. queue or nil)
  end
end
