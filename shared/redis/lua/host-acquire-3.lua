--[[
  Politeness gate of one fetch on its host, in one call: the host's GCRA rate bucket, its
  429/503 backoff, and its concurrency slots. The fetch may go only when all agree; then the
  bucket advances and a slot is leased, atomically. Every key carries the host's tag, so
  hosts spread over a Redis Cluster; the global bucket is leased apart (global-lease-1).
  KEYS[1] host bucket   KEYS[2] host backoff hash   KEYS[3] host slots zset
  ARGV[1] host rate (/s, 0 = unlimited)   ARGV[2] host concurrency (0 = unlimited)
  ARGV[3] slot token   ARGV[4] slot lease (ms)   ARGV[5] backoff half-life (ms)
  The backoff hash holds `interval` (ms, least time between two requests to the host when it
  was set), `at` (when it was set) and `until` (no request before, from Retry-After); the
  interval halves every half-life, so the host recovers gradually.
  Returns {'ok', backoff} when granted (slot leased if limited; backoff 1 when the host is in
  backoff, else 0), else {'wait', ms, reason} with reason 'backoff' (Retry-After), 'host'
  (rate or backoff interval) or 'slots' (ms is then a hint: slots free when fetches end).
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000

-- the host's backoff, decayed
local penalty = 0
local b = redis.call('HMGET', KEYS[2], 'interval', 'at', 'until')
if b[1] then
  local untilMs = tonumber(b[3]) or 0
  if untilMs > now then return { 'wait', math.ceil(untilMs - now), 'backoff' } end
  local halfLife = tonumber(ARGV[5])
  penalty = tonumber(b[1]) * math.pow(0.5, math.max(0, now - (tonumber(b[2]) or now)) / halfLife)
  if penalty < 1 then penalty = 0 end
end

local rate = tonumber(ARGV[1]) or 0
local interval = rate > 0 and 1000 / rate or 0
if penalty > interval then interval = penalty end
local nextTat = nil
local tau = 0
if interval > 0 then
  -- a quarter interval of tolerance (at most 50 ms) for callers that ask a little late
  tau = math.min(50, interval / 4)
  local tat = tonumber(redis.call('GET', KEYS[1])) or now
  if tat < now then tat = now end
  local w = tat - tau - now
  if w > 0 then return { 'wait', math.ceil(w), 'host' } end
  nextTat = tat + interval
end

local limit = tonumber(ARGV[2]) or 0
if limit > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if redis.call('ZCARD', KEYS[3]) >= limit then return { 'wait', 50, 'slots' } end
  local leaseUntil = now + tonumber(ARGV[4])
  redis.call('ZADD', KEYS[3], leaseUntil, ARGV[3])
  local last = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
  redis.call('PEXPIRE', KEYS[3], math.ceil(tonumber(last[2]) - now) + 1000)
end

if nextTat then
  redis.call('SET', KEYS[1], string.format('%.3f', nextTat), 'PX', math.ceil(nextTat - now + tau + 1000))
end
return { 'ok', penalty > 0 and 1 or 0 }
