-- Put one finished trace into an offer's bucket: drop entries past their age, add this one scored by now, keep at
-- most DEPTH (the oldest go first), count what was made and wasted. The bucket outlives its entries' age by long
-- enough for a look or a take to count them as expired, then goes: a bucket nobody fills leaves nothing behind.
-- KEYS[1] the bucket zset, KEYS[2] the offer's stats hash (same {ahead:OFFER} tag)
-- ARGV[1] the entry (JSON, unique: it names its trace), ARGV[2] max age ms, ARGV[3] depth
-- returns {size after, expired or trimmed now}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('ZADD', KEYS[1], now, ARGV[1])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
if over > 0 then
  redis.call('ZPOPMIN', KEYS[1], over)
  expired = expired + over
end
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2]) + 120000)
redis.call('HINCRBY', KEYS[2], 'made', 1)
if expired > 0 then
  redis.call('HINCRBY', KEYS[2], 'expired', expired)
end
return {redis.call('ZCARD', KEYS[1]), expired}
