-- Is this (pair, click id) new within the window? A retry of the same event is not a duplicate.
-- KEYS[1] the pair's key for this click id
-- ARGV[1] the event id, ARGV[2] window seconds
-- returns 1 new (or this same event again), 0 a duplicate
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  return 1
end
return redis.call('GET', KEYS[1]) == ARGV[1] and 1 or 0
