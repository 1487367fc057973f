-- GCRA with a cost and a refund, atomically (see gcra.rs for the model).
-- KEYS[1]: the bucket.
-- ARGV: op ("charge" | "refund"), points, limit, interval_us, [now_us].
-- now comes from the Redis server clock (TIME), so replicas with skewed
-- clocks share one timeline; ARGV[5] overrides it only in tests.
-- Numbers stay integers below 2^53, so doubles compute them exactly.
if redis.replicate_commands then pcall(redis.replicate_commands) end
local op = ARGV[1]
local points = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local interval = tonumber(ARGV[4])
local now
if ARGV[5] and ARGV[5] ~= "" then
  now = tonumber(ARGV[5])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local tau = limit * interval
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then
  tat = math.max(tonumber(stored), now)
end
local allowed = 1
local retry = 0
local new_tat
if op == 'charge' then
  new_tat = tat + points * interval
  if new_tat - now > tau then
    allowed = 0
    retry = new_tat - now - tau
    new_tat = tat
  end
else
  new_tat = math.max(tat - points * interval, now)
end
if allowed == 1 then
  -- Expire a bucket once it is full again: idle callers cost no memory.
  local ttl_ms = math.floor((new_tat - now) / 1000) + 1000
  -- string.format: tostring would print 1.7e+15 and lose microseconds.
  redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', string.format('%d', ttl_ms))
end
local remaining = math.floor(math.max(tau - (new_tat - now), 0) / interval)
return {allowed, remaining, retry, new_tat - now}
