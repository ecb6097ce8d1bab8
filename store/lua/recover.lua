-- Bring a quarantined slot back half-open once its backoff has ended (one success restores it, one
-- failure sends it back with double the backoff). With force, reset its health whatever its state.
-- KEYS[1] quarantine zset, KEYS[2] ready zset, KEYS[3] disabled set (the slot's country), KEYS[4] slot hash
-- ARGV[1] id, ARGV[2] '1' to force a health reset, ARGV[3] country; CHANNEL is set at registration
-- returns 1 when the slot moved to the ready set (or was reset), 0 otherwise
local id = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZSCORE', KEYS[1], id)
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[4], 'consecutive_failures', 0, 'half_open', 0, 'backoff_ms', 0)
  redis.call('HDEL', KEYS[4], 'quarantined_until_ms')
elseif not due or tonumber(due) > now then
  return 0
else
  redis.call('HSET', KEYS[4], 'half_open', 1)
  redis.call('HDEL', KEYS[4], 'quarantined_until_ms')
end
if due then
  redis.call('ZREM', KEYS[1], id)
  if redis.call('SISMEMBER', KEYS[3], id) == 0 then
    redis.call('ZADD', KEYS[2], now, id)
    redis.call('PUBLISH', CHANNEL, ARGV[3] .. ' ' .. now)
  end
end
return 1
