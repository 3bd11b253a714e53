-- beat-acquire: take beat's lease if nobody holds it, with a fresh fencing token.
-- KEYS[1] lease key (string: the holder's token), KEYS[2] epoch counter (only grows)
-- ARGV[1] holder id, ARGV[2] lease ttl in ms
-- Returns {token, 0} when granted; {'', ms until the current lease expires} otherwise.
local current = redis.call('PTTL', KEYS[1])
if current > 0 then
  return {'', current}
end
local epoch = redis.call('INCR', KEYS[2])
local token = tostring(epoch) .. ':' .. ARGV[1]
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
return {token, 0}
