--[[
  The cluster's global rate, leased in batches: a fetcher takes up to `wanted` consecutive
  tokens of the GCRA bucket in one call, each due one interval after the other, so N replicas
  touch this one key about rate / wanted times a second instead of rate times. The bucket may
  be reserved at most `horizon` ms ahead of now; past that the caller waits. Tokens are only
  handed out, never given back: a lease its fetcher does not use is rate not spent (the
  cluster runs below the rate, never above it).
  KEYS[1] global bucket (theoretical arrival time, ms)
  ARGV[1] rate (/s, > 0)   ARGV[2] tokens wanted (>= 1)   ARGV[3] horizon (ms)
  Returns {n, first, interval}: n tokens (0 = none), the first due `first` ms from now (the
  others one interval apart), interval in ms; with n = 0, `first` is how long to wait.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = 1000 / tonumber(ARGV[1])
local wanted = math.max(1, math.floor(tonumber(ARGV[2])))
local horizon = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local ahead = tat - now
if ahead >= horizon then
  return { 0, tostring(math.ceil(ahead - horizon) + 1), tostring(interval) }
end
local n = math.min(wanted, math.max(1, math.floor((horizon - ahead) / interval)))
local nextTat = tat + n * interval
redis.call('SET', KEYS[1], string.format('%.3f', nextTat), 'PX', math.ceil(nextTat - now + 1000))
return { n, tostring(ahead), tostring(interval) }
