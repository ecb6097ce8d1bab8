-- A postback wants an update of its pair: throttled (the pair was updated within its interval and the
-- postback does not force), run it now (the caller takes the lock), or coalesced into the running update
-- (which then runs exactly once more). Deciding all three in one script closes the race in which a postback
-- checked the throttle before an update finished and coalesced after it.
-- KEYS[1] the pair's busy lock, KEYS[2] its "again" flag, KEYS[3] its "fresh" marker (same {pair:ID} tag)
-- ARGV[1] holder, ARGV[2] lock time-to-live ms, ARGV[3] '1' when the postback forces the update
-- returns 'run' | 'coalesced' | 'throttled'
if ARGV[3] ~= '1' and redis.call('EXISTS', KEYS[3]) == 1 then
  return 'throttled'
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 'run'
end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
return 'coalesced'
