-- Release a lease (only with its fencing token), record the outcome, start the cooldown or quarantine.
-- Maintenance reaps an expired lease through this same script with outcome 'lease_expired', which is
-- refused until the lease's deadline has passed.
-- KEYS[1] leases hash, KEYS[2] leased zset, KEYS[3] ready zset, KEYS[4] quarantine zset,
-- KEYS[5] disabled set (all of the slot's country), KEYS[6] slot hash, KEYS[7] window counters hash
-- ARGV[1] id, ARGV[2] token, ARGV[3] outcome: ok | fail | upstream_error | lease_expired,
-- ARGV[4] cooldown ms, ARGV[5] trace ms or '', ARGV[6] country
-- FAIL_THRESHOLD, QUARANTINE_MS, QUARANTINE_MAX_MS and CHANNEL are set when the script is registered
-- returns {'released', ready_at_ms} | {'quarantined', retry_at_ms} | {'disabled', 0}
--       | {'ignored', 0} (no such lease: reaped or released already) | {'not_due', deadline_ms}
local id, outcome, slot = ARGV[1], ARGV[3], KEYS[6]
local entry = redis.call('HGET', KEYS[1], id)
local token, deadline
if entry then
  token, deadline = string.match(entry, '^(%d+) (%d+)')
end
if token ~= ARGV[2] then
  if outcome ~= 'lease_expired' then
    redis.call('HINCRBY', KEYS[7], 'late_releases', 1)
  end
  return {'ignored', 0}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if outcome == 'lease_expired' and now < tonumber(deadline) then
  return {'not_due', tonumber(deadline)}
end
redis.call('HDEL', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
redis.call('HINCRBY', slot, 'uses', 1)
redis.call('HSET', slot, 'last_used_ms', now, 'last_outcome', outcome)
if outcome == 'ok' then
  local n = redis.call('HINCRBY', slot, 'successes', 1)
  redis.call('HSET', slot, 'consecutive_failures', 0, 'half_open', 0, 'backoff_ms', 0)
  if ARGV[5] ~= '' then
    local avg = tonumber(redis.call('HGET', slot, 'avg_trace_ms') or '0')
    redis.call('HSET', slot, 'avg_trace_ms', string.format('%.1f', avg + (tonumber(ARGV[5]) - avg) / n))
  end
elseif outcome == 'upstream_error' then
  redis.call('HINCRBY', slot, 'upstream_errors', 1)
else
  redis.call('HINCRBY', slot, 'failures', 1)
  local consecutive = redis.call('HINCRBY', slot, 'consecutive_failures', 1)
  if outcome == 'lease_expired' then
    redis.call('HINCRBY', slot, 'lease_expired', 1)
    redis.call('HINCRBY', KEYS[7], 'reaped', 1)
  end
  local half_open = redis.call('HGET', slot, 'half_open') == '1'
  if half_open or consecutive >= FAIL_THRESHOLD then
    local backoff = tonumber(redis.call('HGET', slot, 'backoff_ms') or '0')
    if half_open and backoff > 0 then
      backoff = math.min(backoff * 2, QUARANTINE_MAX_MS)
    else
      backoff = QUARANTINE_MS
    end
    local jitter = (tonumber(t[2]) % 1000) / 1000
    local retry_at = now + backoff + math.floor(backoff * 0.2 * jitter)
    redis.call('HSET', slot, 'backoff_ms', backoff, 'half_open', 0, 'quarantined_until_ms', retry_at)
    redis.call('HINCRBY', slot, 'quarantines', 1)
    redis.call('HINCRBY', KEYS[7], 'quarantined:' .. ARGV[6], 1)
    if redis.call('SISMEMBER', KEYS[5], id) == 0 then
      redis.call('ZADD', KEYS[4], retry_at, id)
    end
    return {'quarantined', retry_at}
  end
end
if redis.call('SISMEMBER', KEYS[5], id) == 1 then
  return {'disabled', 0}
end
local ready_at = now + tonumber(ARGV[4])
redis.call('ZADD', KEYS[3], ready_at, id)
redis.call('PUBLISH', CHANNEL, ARGV[6] .. ' ' .. ready_at)
return {'released', ready_at}
