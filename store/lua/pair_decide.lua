-- What a postback does to its pair, decided at once for every process: a repeat of a (pair, click id) seen
-- within the window (a retry of the same event is not a repeat), a pair updated within its interval (unless
-- forced), an update already running (the postback is folded into it, which then runs exactly once more), or
-- run the update now (the caller takes the lock). The lock's holder names the event, so the retry of an event
-- whose process died while holding the lock takes it back and runs (and then runs the folded-in ones). Deciding all of it in one script closes the race in which a
-- postback checked the throttle before an update finished and was folded in after it.
-- KEYS[1] the pair's busy lock, KEYS[2] its "again" flag, KEYS[3] its "fresh" marker, KEYS[4] the pair's key
-- for this click id (same {pair:ID} tag; may be absent when the postback has no click id)
-- ARGV[1] holder, ARGV[2] lock time-to-live ms, ARGV[3] '1' when forced, ARGV[4] event id, ARGV[5] window s
-- returns 'duplicate' | 'throttled' | 'coalesced' | 'run'
if KEYS[4] then
  if not redis.call('SET', KEYS[4], ARGV[4], 'NX', 'EX', ARGV[5]) and redis.call('GET', KEYS[4]) ~= ARGV[4] then
    return 'duplicate'
  end
end
if ARGV[3] ~= '1' and redis.call('EXISTS', KEYS[3]) == 1 then
  return 'throttled'
end
local holder = redis.call('GET', KEYS[1])
if not holder or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 'run'
end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
return 'coalesced'
