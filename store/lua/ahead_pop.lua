-- Take the oldest traces of an offer's bucket that are not past their age, one for each of COUNT callers: the
-- entries past their age are dropped (and counted) first, and those taken leave the bucket in the same call, so
-- no two callers ever get the same one. A caller left without one is a miss. COUNT 0 only looks.
-- KEYS[1] the bucket zset, KEYS[2] the offer's stats hash (same {ahead:OFFER} tag)
-- ARGV[1] max age ms, ARGV[2] the stats field counting a hit ('hits' or 'feed'), ARGV[3] COUNT
-- returns {now_ms, expired, entries left, age ms of the oldest left (-1: none),
--          entry, traced_at_ms, entry, traced_at_ms, ...} (at most COUNT entries, oldest first)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
if expired > 0 then
  redis.call('HINCRBY', KEYS[2], 'expired', expired)
end
local count = tonumber(ARGV[3])
local taken = {}
if count > 0 then
  taken = redis.call('ZPOPMIN', KEYS[1], count)
  local got = #taken / 2
  if got > 0 then
    redis.call('HINCRBY', KEYS[2], ARGV[2], got)
  end
  if got < count then
    redis.call('HINCRBY', KEYS[2], 'misses', count - got)
  end
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local reply = {now, expired, redis.call('ZCARD', KEYS[1]), #oldest > 0 and now - tonumber(oldest[2]) or -1}
for i = 1, #taken, 2 do
  reply[#reply + 1] = taken[i]
  reply[#reply + 1] = tonumber(taken[i + 1])
end
return reply
