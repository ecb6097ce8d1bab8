-- Take the oldest trace of an offer's bucket that is not past its age, for exactly one use: the entries past their
-- age are dropped first, and the one taken leaves the bucket in the same call, so no two callers ever get it.
-- KEYS[1] the bucket zset, KEYS[2] the offer's stats hash (same {ahead:OFFER} tag)
-- ARGV[1] max age ms, ARGV[2] the stats field counting a hit ('hits' or 'feed')
-- returns {entry, traced_at_ms, now_ms, expired} or {false, 0, now_ms, expired} when the bucket is empty (a miss)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
if expired > 0 then
  redis.call('HINCRBY', KEYS[2], 'expired', expired)
end
local taken = redis.call('ZPOPMIN', KEYS[1], 1)
if #taken == 0 then
  redis.call('HINCRBY', KEYS[2], 'misses', 1)
  return {false, 0, now, expired}
end
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
return {taken[1], tonumber(taken[2]), now, expired}
