-- Lease the slot whose cooldown ended longest ago, trying the wanted countries in order.
-- KEYS[1] leases hash (id -> "token deadline_ms leased_at_ms holder")
-- KEYS[2] fencing counter
-- KEYS[3] window counters hash (read and reset by pool snapshots)
-- KEYS[4 + 2(i-1)], KEYS[5 + 2(i-1)]: ready zset and leased zset of the i-th wanted country
-- ARGV[1] holder, ARGV[1 + i] the i-th country code
-- LEASE_MS is set when the script is registered (the pool's policy)
-- returns {1, id, token, country, now_ms, deadline_ms} or {0, next_ready_ms or -1, now_ms}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local next_ready = -1
for i = 1, (#KEYS - 3) / 2 do
  local ready, leased = KEYS[2 + 2 * i], KEYS[3 + 2 * i]
  local id = redis.call('ZRANGEBYSCORE', ready, '-inf', now, 'LIMIT', 0, 1)[1]
  if id then
    local token = redis.call('INCR', KEYS[2])
    local deadline = now + LEASE_MS
    redis.call('ZREM', ready, id)
    redis.call('ZADD', leased, deadline, id)
    redis.call('HSET', KEYS[1], id, token .. ' ' .. deadline .. ' ' .. now .. ' ' .. ARGV[1])
    redis.call('HINCRBY', KEYS[3], 'leases:' .. ARGV[1 + i], 1)
    return {1, id, token, ARGV[1 + i], now, deadline}
  end
  local head = redis.call('ZRANGE', ready, 0, 0, 'WITHSCORES')
  if head[2] and (next_ready < 0 or tonumber(head[2]) < next_ready) then
    next_ready = tonumber(head[2])
  end
end
return {0, next_ready, now}
