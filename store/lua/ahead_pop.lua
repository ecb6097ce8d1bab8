-- Take the oldest traces of an offer's bucket that are not past their age, one for each of COUNT callers, once per
-- take id: the reply is remembered under the take's key, so a call the client sends again (a retry after a timeout)
-- gets the same entries back instead of popping new ones. First the entries past their age are dropped (counted
-- `expired`), and the entries handed out earlier whose use was never answered in time are forgotten (counted
-- `taken_unanswered`); those taken leave the bucket in the same call, so no two callers ever get the same one, and
-- wait in the handed-out set until their use is answered (Buckets.answered removes them). A caller left without one is a miss.
-- Feed takes (hits and misses) are counted per minute as the feed's demand. COUNT 0 only looks.
-- KEYS[1] the bucket zset, KEYS[2] the offer's stats hash, KEYS[3] the take's remembered reply (string),
-- KEYS[4] the handed-out set (zset: trace id -> answer deadline ms), KEYS[5] the feed's demand (hash: epoch minute ->
-- requests, 'last' -> ms) (all the same {ahead:OFFER} tag)
-- ARGV[1] max age ms, ARGV[2] the stats field counting a hit ('hits' or 'feed'), ARGV[3] COUNT, ARGV[4] how long a
-- use may take to be answered (and a take's reply is remembered), ms
-- returns {now_ms, expired, entries left, age ms of the oldest left (-1: none), unanswered,
--          entry, traced_at_ms, entry, traced_at_ms, ...} (at most COUNT entries, oldest first)
local count = tonumber(ARGV[3])
if count > 0 then
  local remembered = redis.call('GET', KEYS[3])
  if remembered then
    return cjson.decode(remembered)
  end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local within = tonumber(ARGV[4])
local unanswered = redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
if unanswered > 0 then
  redis.call('HINCRBY', KEYS[2], 'taken_unanswered', unanswered)
end
local expired = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
if expired > 0 then
  redis.call('HINCRBY', KEYS[2], 'expired', expired)
end
local taken = {}
if count > 0 then
  taken = redis.call('ZPOPMIN', KEYS[1], count)
  local got = #taken / 2
  if got > 0 then
    redis.call('HINCRBY', KEYS[2], ARGV[2], got)
    for i = 1, #taken, 2 do
      redis.call('ZADD', KEYS[4], now + within, cjson.decode(taken[i]).id)
    end
    redis.call('PEXPIRE', KEYS[4], within + 60000)
  end
  if got < count then
    redis.call('HINCRBY', KEYS[2], 'misses', count - got)
  end
  if ARGV[2] == 'feed' then
    local minute = math.floor(now / 60000)
    if redis.call('HINCRBY', KEYS[5], minute, count) == count then
      for _, field in ipairs(redis.call('HKEYS', KEYS[5])) do
        if field ~= 'last' and tonumber(field) < minute - 61 then
          redis.call('HDEL', KEYS[5], field)
        end
      end
    end
    redis.call('HSET', KEYS[5], 'last', now)
    redis.call('PEXPIRE', KEYS[5], 8 * 86400000)
  end
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local reply = {now, expired, redis.call('ZCARD', KEYS[1]), #oldest > 0 and now - tonumber(oldest[2]) or -1, unanswered}
for i = 1, #taken, 2 do
  reply[#reply + 1] = taken[i]
  reply[#reply + 1] = tonumber(taken[i + 1])
end
if count > 0 then
  reply[2], reply[5] = 0, 0  -- counted once, by the first answer
  redis.call('SET', KEYS[3], cjson.encode(reply), 'PX', within)
  reply[2], reply[5] = expired, unanswered
end
return reply
