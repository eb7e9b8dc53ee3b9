--[[
  Politeness gate of one fetch, in one call: the cluster-wide rate buckets (global and the
  host's, GCRA), the host's 429/503 backoff, and the host's concurrency slots. The fetch may
  go only when all agree; then both buckets advance and a slot is leased, atomically.
  KEYS[1] global bucket   KEYS[2] host bucket   KEYS[3] host backoff hash   KEYS[4] host slots zset
  ARGV[1] global rate (/s, 0 = unlimited)   ARGV[2] host rate (/s, 0 = unlimited)
  ARGV[3] host concurrency (0 = unlimited)   ARGV[4] slot token   ARGV[5] slot lease (ms)
  ARGV[6] backoff half-life (ms)
  The backoff hash holds `interval` (ms, least time between two requests to the host when it
  was set), `at` (when it was set) and `until` (no request before, from Retry-After); the
  interval halves every half-life, so the host recovers gradually.
  Returns {'ok', backoff} when granted (slot leased if limited; backoff 1 when the host is in
  backoff, else 0), else {'wait', ms, reason} with reason 'backoff' (Retry-After), 'global',
  'host' (rate or backoff interval) or 'slots' (ms is then a hint: slots free when fetches end).
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000

-- the host's backoff, decayed
local penalty = 0
local b = redis.call('HMGET', KEYS[3], 'interval', 'at', 'until')
if b[1] then
  local untilMs = tonumber(b[3]) or 0
  if untilMs > now then return { 'wait', math.ceil(untilMs - now), 'backoff' } end
  local halfLife = tonumber(ARGV[6])
  penalty = tonumber(b[1]) * math.pow(0.5, math.max(0, now - (tonumber(b[2]) or now)) / halfLife)
  if penalty < 1 then penalty = 0 end
end

local wait = 0
local reason = ''
local plan = {}
for i = 1, 2 do
  local rate = tonumber(ARGV[i]) or 0
  local interval = rate > 0 and 1000 / rate or 0
  if i == 2 and penalty > interval then interval = penalty end
  if interval > 0 then
    -- a quarter interval of tolerance (at most 50 ms) for callers that ask a little late
    local tau = math.min(50, interval / 4)
    local tat = tonumber(redis.call('GET', KEYS[i])) or now
    if tat < now then tat = now end
    local w = tat - tau - now
    if w > wait then
      wait = w
      reason = i == 1 and 'global' or 'host'
    end
    plan[#plan + 1] = { KEYS[i], tat + interval, tau }
  end
end
if wait > 0 then return { 'wait', math.ceil(wait), reason } end

local limit = tonumber(ARGV[3]) or 0
if limit > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
  if redis.call('ZCARD', KEYS[4]) >= limit then return { 'wait', 50, 'slots' } end
  local leaseUntil = now + tonumber(ARGV[5])
  redis.call('ZADD', KEYS[4], leaseUntil, ARGV[4])
  local last = redis.call('ZRANGE', KEYS[4], -1, -1, 'WITHSCORES')
  redis.call('PEXPIRE', KEYS[4], math.ceil(tonumber(last[2]) - now) + 1000)
end

for _, p in ipairs(plan) do
  redis.call('SET', p[1], string.format('%.3f', p[2]), 'PX', math.ceil(p[2] - now + p[3] + 1000))
end
return { 'ok', penalty > 0 and 1 or 0 }
