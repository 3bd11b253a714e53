-- beat-release: give beat's lease up (compare-and-delete).
-- KEYS[1] lease key
-- ARGV[1] token
-- Returns 1 when released, 0 when the token did not hold it.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
