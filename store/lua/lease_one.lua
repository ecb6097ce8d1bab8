-- Lease one named slot, only if it is ready now (an operator tracing through a chosen slot must not share it).
-- KEYS[1] leases hash, KEYS[2] fencing counter, KEYS[3] window counters hash,
-- KEYS[4] ready zset and KEYS[5] leased zset of the slot's country
-- ARGV[1] holder, ARGV[2] slot id, ARGV[3] country; LEASE_MS is set when the script is registered
-- returns {1, id, token, country, now_ms, deadline_ms} or {0, ready_at_ms or -1 when not in the ready set, now_ms}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id = ARGV[2]
local ready_at = redis.call('ZSCORE', KEYS[4], id)
if not ready_at or tonumber(ready_at) > now then
  return {0, ready_at and tonumber(ready_at) or -1, now}
end
local token = redis.call('INCR', KEYS[2])
local deadline = now + LEASE_MS
redis.call('ZREM', KEYS[4], id)
redis.call('ZADD', KEYS[5], deadline, id)
redis.call('HSET', KEYS[1], id, token .. ' ' .. deadline .. ' ' .. now .. ' ' .. ARGV[1])
redis.call('HINCRBY', KEYS[3], 'leases:' .. ARGV[3], 1)
return {1, id, token, ARGV[3], now, deadline}
