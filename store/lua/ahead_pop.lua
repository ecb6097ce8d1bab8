-- Take the oldest traces of an offer's bucket that are not past their age, one for each of COUNT callers, once per
-- take id: the reply is remembered under the take's key for a while, so a call the client sends again (a retry
-- after a timeout) gets the same answer instead of popping new entries. First the entries past their age are dropped (counted
-- `expired`), and the entries handed out earlier whose use was never answered in time are forgotten (counted
-- `taken_unanswered`). A use's first bucket (FIRST) is where it is counted: with a budget (LIMIT > 0) each caller
-- spends one trace of its client's budget for this minute first, and a caller past it takes nothing (counted
-- `limited`); a feed request counts as the feed's demand for this minute. The entries taken leave the bucket in the same call, so
-- no two callers ever get the same one, and wait in the handed-out set until their use is answered (Buckets.answered
-- removes them). A caller left without one is a miss. COUNT 0 only looks.
-- KEYS[1] the bucket zset, KEYS[2] the offer's stats hash, KEYS[3] the take's remembered reply (string),
-- KEYS[4] the handed-out set (zset: trace id -> answer deadline ms), KEYS[5] the feed's demand (hash: epoch minute ->
-- requests, 'last' -> ms), KEYS[5 + i] (with a budget) caller i's budget counter for this minute (all the same
-- {ahead:OFFER} tag)
-- ARGV[1] max age ms, ARGV[2] the stats field counting a hit ('clicks' or 'feed'), ARGV[3] COUNT, ARGV[4] how long a
-- use may take to be answered, ms, ARGV[5] LIMIT: traces per client and minute (0: no budget), ARGV[6] how long a
-- take's reply is remembered, ms, ARGV[7] FIRST: '1' in a use's first bucket
-- returns {now_ms, expired, entries left, age ms of the oldest left (-1: none), unanswered,
--          then per caller: entry (or '' for a miss, '!' past its budget), traced_at_ms (0 without an entry)}
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
local first = ARGV[7] == '1'
local limit = first and tonumber(ARGV[5]) or 0
local limited, wanting = {}, count
if limit > 0 then
  for i = 1, count do
    local spent = redis.call('INCR', KEYS[5 + i])
    if spent == 1 then
      redis.call('EXPIRE', KEYS[5 + i], 120)
    end
    if spent > limit then
      limited[i], wanting = true, wanting - 1
    end
  end
  if wanting < count then
    redis.call('HINCRBY', KEYS[2], 'limited', count - wanting)
  end
end
local taken = {}
if wanting > 0 then
  taken = redis.call('ZPOPMIN', KEYS[1], wanting)
  local got = #taken / 2
  if got > 0 then
    redis.call('HINCRBY', KEYS[2], ARGV[2], got)
    for i = 1, #taken, 2 do
      redis.call('ZADD', KEYS[4], now + within, cjson.decode(taken[i]).id)
    end
    redis.call('PEXPIRE', KEYS[4], within + 60000)
  end
  if got < wanting then
    redis.call('HINCRBY', KEYS[2], 'misses', wanting - got)
  end
end
if ARGV[2] == 'feed' and count > 0 and first then
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
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local reply = {now, expired, redis.call('ZCARD', KEYS[1]), #oldest > 0 and now - tonumber(oldest[2]) or -1, unanswered}
local next_entry = 1
for i = 1, count do
  if limited[i] then
    reply[#reply + 1], reply[#reply + 2] = '!', 0
  elseif next_entry < #taken then
    reply[#reply + 1], reply[#reply + 2] = taken[next_entry], tonumber(taken[next_entry + 1])
    next_entry = next_entry + 2
  else
    reply[#reply + 1], reply[#reply + 2] = '', 0
  end
end
if count > 0 then
  reply[2], reply[5] = 0, 0  -- counted once, by the first answer
  redis.call('SET', KEYS[3], cjson.encode(reply), 'PX', tonumber(ARGV[6]))
  reply[2], reply[5] = expired, unanswered
end
return reply
