-- How many slots of a country can be leased right now (their cooldown ended, by the server's clock).
-- KEYS[1] the country's ready zset
-- returns the count
local t = redis.call('TIME')
return redis.call('ZCOUNT', KEYS[1], '-inf', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
