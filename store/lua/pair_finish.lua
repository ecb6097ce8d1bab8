-- End an update of a pair: mark the pair fresh (throttled) after a successful update; if postbacks came
-- meanwhile, keep the lock for one more update, else release it.
-- KEYS[1] the pair's busy lock, KEYS[2] its "again" flag, KEYS[3] its "fresh" marker
-- ARGV[1] holder, ARGV[2] lock time-to-live ms, ARGV[3] ms the pair stays fresh (0: the update failed)
-- returns 1: update once more (still holding the lock); 0: released; -1: the lock had expired (not ours)
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
if tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[3])
end
if redis.call('DEL', KEYS[2]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
redis.call('DEL', KEYS[1])
return 0
