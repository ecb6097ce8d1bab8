-- Forget a slot removed from the inventory. A lease it still holds is dropped too, so its late
-- release is ignored.
-- KEYS[1] index set, KEYS[2] leases hash, KEYS[3] ready zset, KEYS[4] leased zset, KEYS[5] quarantine
-- zset, KEYS[6] disabled set (the slot's country), KEYS[7] slot hash
-- ARGV[1] id
-- returns 1 when the slot was known, 0 otherwise
local id = ARGV[1]
local known = redis.call('SREM', KEYS[1], id)
redis.call('HDEL', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
redis.call('ZREM', KEYS[4], id)
redis.call('ZREM', KEYS[5], id)
redis.call('SREM', KEYS[6], id)
redis.call('DEL', KEYS[7])
return known
