--[[
  A fetcher hands a claimed task back because its host is not ready yet (rate, backoff or
  concurrency): F → W like a retry, but the attempt it claimed is given back, so waiting for
  a polite moment never uses up retries. Only the caller's own attempt moves.
  KEYS[1] session hash   KEYS[2] tasks hash   KEYS[3] leases zset
  ARGV[1] task id   ARGV[2] attempt the caller holds   ARGV[3] lease (ms): delay + margin
  Returns {'ok'} or {'stale', state}.
]]
--- @include "includes/ledger"

local id = ARGV[1]
local v = redis.call('HGET', KEYS[2], id)
if not v then return { 'stale', '' } end
local s, a, d, p, u = parseTask(v)
local held = tonumber(ARGV[2])
if s ~= 'F' or a ~= held or a < 1 then return { 'stale', s } end
redis.call('HSET', KEYS[2], id, packTask('W', a - 1, d, p, u))
redis.call('ZADD', KEYS[3], nowMs() + tonumber(ARGV[3]), id)
redis.call('HINCRBY', KEYS[1], 'deferred', 1)
return { 'ok' }
