-- Make Redis agree with the inventory for one slot: known, in exactly one place, enabled or not.
-- Idempotent: a Redis that restarted empty is rebuilt by calling this for every inventory slot.
-- KEYS[1] index set (every slot id Redis knows), KEYS[2] countries set, KEYS[3] leases hash,
-- KEYS[4] ready zset, KEYS[5] leased zset, KEYS[6] quarantine zset, KEYS[7] disabled set (the slot's
-- country), KEYS[8] slot hash
-- ARGV[1] id, ARGV[2] country, ARGV[3] '1' enabled / '0' disabled, ARGV[4] provider;
-- CHANNEL is set at registration
-- returns 'added' | 'repaired' | 'enabled' | 'disabled' | 'ok'
local id, country = ARGV[1], ARGV[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local known = redis.call('SADD', KEYS[1], id) == 0
redis.call('SADD', KEYS[2], country)
redis.call('HSET', KEYS[8], 'country', country, 'provider', ARGV[4])
local leased = redis.call('ZSCORE', KEYS[5], id)
if leased and redis.call('HEXISTS', KEYS[3], id) == 0 then
  redis.call('ZREM', KEYS[5], id)
  leased = false
end
local disabled = redis.call('SISMEMBER', KEYS[7], id) == 1
if ARGV[3] == '0' then
  if disabled then return 'ok' end
  redis.call('ZREM', KEYS[4], id)
  redis.call('ZREM', KEYS[6], id)
  redis.call('SADD', KEYS[7], id)
  return 'disabled'
end
local placed = leased or redis.call('ZSCORE', KEYS[4], id) or redis.call('ZSCORE', KEYS[6], id)
local result = 'ok'
if disabled then
  redis.call('SREM', KEYS[7], id)
  result = 'enabled'
elseif not placed then
  result = known and 'repaired' or 'added'
end
if not placed then
  redis.call('ZADD', KEYS[4], now, id)
  redis.call('PUBLISH', CHANNEL, country .. ' ' .. now)
end
return result
