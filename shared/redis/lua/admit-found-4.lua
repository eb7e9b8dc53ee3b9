--[[
  The extractor's one round trip per page, with the spider-trap limits:
  (the page's task moves to R, the links found on it are admitted), plus
  - the per-host page limit of the session: a link new to the session whose host already has
    `maxPagesPerHost` admitted links is refused (counted as trap:host_pages);
  - counters of the links the extractor refused before asking (trap:<reason> fields of the
    session hash), added once per page (not again when the page is processed again).
  KEYS[1] session hash   KEYS[2] tasks hash   KEYS[3] leases zset   KEYS[4] host page counts hash
  ARGV[1] task id   ARGV[2] result lease (ms)   ARGV[3] admit lease (ms)
  ARGV[4] pages per host (0 = unlimited)   ARGV[5] retention of the session's keys (ms)
  ARGV[6] n: pairs of refused counts that follow   ARGV[7 .. 6+2n] reason, count
  then quadruplets: child task id, depth, url, host
  Returns {'ok', limited, {admitted indices among the quadruplets}, refused by the host limit},
  {'closed', status} (page kept, no links admitted), {'done', state} (task already terminal:
  drop) or {'unknown'}.
]]
--- @include "includes/ledger"
--- @include "includes/admit"

local now = nowMs()
local id = ARGV[1]
local v = redis.call('HGET', KEYS[2], id)
if not v then return { 'unknown' } end
local s, a, d, p, u = parseTask(v)
if isTerminal(s) then return { 'done', s } end
local firstTime = s ~= 'R'
if firstTime then
  redis.call('HSET', KEYS[2], id, packTask('R', a, d, p, u))
end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), id)

local perHost = tonumber(ARGV[4])
local npairs = tonumber(ARGV[6])
local first = 7 + 2 * npairs

-- links within the host limit, as triplets for admitLinks; `origin` maps them back
local kept, origin, isNew, hostOf = {}, {}, {}, {}
local counts = {}
local hostRefused = 0
local n = 0
for i = first, #ARGV, 4 do
  local cid, host = ARGV[i], ARGV[i + 3]
  local keep = true
  if perHost > 0 and redis.call('HEXISTS', KEYS[2], cid) == 0 then
    if counts[host] == nil then counts[host] = tonumber(redis.call('HGET', KEYS[4], host)) or 0 end
    if counts[host] >= perHost then
      keep = false
      hostRefused = hostRefused + 1
    else
      counts[host] = counts[host] + 1
      isNew[#kept / 3] = true
    end
  end
  if keep then
    origin[#kept / 3] = n
    hostOf[#kept / 3] = host
    kept[#kept + 1] = cid
    kept[#kept + 1] = ARGV[i + 1]
    kept[#kept + 1] = ARGV[i + 2]
  end
  n = n + 1
end

local out, limited = admitLinks(KEYS[1], KEYS[2], KEYS[3], now, tonumber(ARGV[3]), id, kept, 1)
if out == nil then return { 'closed', limited } end

if firstTime then
  for k = 7, first - 1, 2 do redis.call('HINCRBY', KEYS[1], 'trap:' .. ARGV[k], ARGV[k + 1]) end
  if hostRefused > 0 then redis.call('HINCRBY', KEYS[1], 'trap:host_pages', hostRefused) end
end

local mapped = {}
local counted = false
for _, k in ipairs(out) do
  mapped[#mapped + 1] = origin[k]
  if isNew[k] then
    redis.call('HINCRBY', KEYS[4], hostOf[k], 1)
    counted = true
  end
end
if counted then
  local closeAt = tonumber(redis.call('HGET', KEYS[1], 'closeAt')) or now
  redis.call('PEXPIRE', KEYS[4], math.max(0, closeAt - now) + tonumber(ARGV[5]))
end
return { 'ok', limited, mapped, hostRefused }
