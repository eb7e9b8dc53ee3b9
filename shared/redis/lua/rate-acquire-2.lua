--[[
  Cluster-wide rate limit (GCRA) on two buckets at once: the global one and the host's.
  A request passes only when both allow it; then both advance. Rates are per second,
  0 means unlimited.
  KEYS[1] global bucket   KEYS[2] host bucket
  ARGV[1] global rate   ARGV[2] host rate   ARGV[3] burst tolerance (ms)
  Returns 0 when granted, else the milliseconds to wait before asking again.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local tau = tonumber(ARGV[3])
local wait = 0
local plan = {}
for i = 1, 2 do
  local rate = tonumber(ARGV[i])
  if rate and rate > 0 then
    local interval = 1000 / rate
    local tat = tonumber(redis.call('GET', KEYS[i])) or now
    if tat < now then tat = now end
    local w = tat - tau - now
    if w > wait then wait = w end
    plan[#plan + 1] = { KEYS[i], tat + interval, interval }
  end
end
if wait > 0 then return math.ceil(wait) end
for _, p in ipairs(plan) do
  redis.call('SET', p[1], string.format('%.3f', p[2]), 'PX', math.ceil(p[2] - now + tau + 1000))
end
return 0
