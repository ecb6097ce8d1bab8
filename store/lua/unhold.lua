-- Let go of a hold that HOLDER has; a hold another took over (after HOLDER's expired) stays.
-- KEYS[1] the hold; ARGV[1] holder
-- returns 1 when HOLDER's hold was let go, 0 otherwise
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
