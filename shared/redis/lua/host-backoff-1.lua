--[[
  A host answered 429 or 503: its backoff interval doubles (at least the start interval, at
  most the maximum) from its decayed value, and a Retry-After holds every request to the
  host until then, on every replica (read by host-acquire-4).
  KEYS[1] host backoff hash
  ARGV[1] start interval (ms)   ARGV[2] largest interval (ms)   ARGV[3] half-life (ms)
  ARGV[4] Retry-After (ms from now, 0 = none; already capped by the caller)
  Returns {interval ms, until ms (0 = none)}.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local start, max, halfLife = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'interval', 'at', 'until')
local current = 0
if b[1] then current = tonumber(b[1]) * math.pow(0.5, math.max(0, now - (tonumber(b[2]) or now)) / halfLife) end
local interval = math.min(max, math.max(start, current * 2))
local untilMs = tonumber(b[3]) or 0
local retryAfter = tonumber(ARGV[4])
if retryAfter > 0 and now + retryAfter > untilMs then untilMs = now + retryAfter end
if untilMs < now then untilMs = 0 end
redis.call('HSET', KEYS[1], 'interval', string.format('%.0f', interval), 'at', now, 'until', untilMs)
-- gone once decayed below 1 ms: log2(interval) half-lives after the last Retry-After
local ttl = math.ceil(math.max(0, untilMs - now) + halfLife * (math.log(interval) / math.log(2) + 1))
redis.call('PEXPIRE', KEYS[1], ttl)
return { math.floor(interval), untilMs }
