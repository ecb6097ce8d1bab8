-- Look at an offer's bucket: drop (and count as expired) the entries past their age, then say what is left.
-- KEYS[1] the bucket zset, KEYS[2] the offer's stats hash (same {ahead:OFFER} tag)
-- ARGV[1] max age ms
-- returns {entries, age ms of the oldest (-1 when empty), expired now}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
if expired > 0 then
  redis.call('HINCRBY', KEYS[2], 'expired', expired)
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local age = -1
if #oldest > 0 then
  age = now - tonumber(oldest[2])
end
return {redis.call('ZCARD', KEYS[1]), age, expired}
