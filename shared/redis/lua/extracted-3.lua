--[[
  The extractor's one round trip per page: the page's task moves to R (result on its way
  to delivery, leased) and the links found on it are admitted.
  KEYS[1] session hash   KEYS[2] tasks hash   KEYS[3] leases zset
  ARGV[1] task id   ARGV[2] result lease (ms)   ARGV[3] admit lease (ms)
  ARGV[4..] triplets: child task id, depth, url
  Returns {'ok', limited, {admitted indices}}, {'closed', status} (page kept, no links
  admitted), {'done', state} (task already terminal: drop) or {'unknown'}.
]]
--- @include "includes/ledger"
--- @include "includes/admit"

local now = nowMs()
local id = ARGV[1]
local v = redis.call('HGET', KEYS[2], id)
if not v then return { 'unknown' } end
local s, a, d, p, u = parseTask(v)
if isTerminal(s) then return { 'done', s } end
if s ~= 'R' then
  redis.call('HSET', KEYS[2], id, packTask('R', a, d, p, u))
end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), id)
local out, limited = admitLinks(KEYS[1], KEYS[2], KEYS[3], now, tonumber(ARGV[3]), id, ARGV, 4)
if out == nil then return { 'closed', limited } end
return { 'ok', limited, out }
