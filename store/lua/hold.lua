-- Hold a named job for HOLDER: take it when free, extend it when HOLDER has it already.
-- KEYS[1] the hold; ARGV[1] holder, ARGV[2] ttl ms
-- returns 1 when HOLDER holds it now, 0 when another does
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0
