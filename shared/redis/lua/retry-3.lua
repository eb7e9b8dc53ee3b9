--[[
  A fetcher parks a task that failed transiently until its retry is due: F → W, only if
  the caller still owns the attempt (a stale consumer must not move the task).
  KEYS[1] session hash   KEYS[2] tasks hash   KEYS[3] leases zset
  ARGV[1] task id   ARGV[2] attempt the caller holds   ARGV[3] lease (ms): delay + margin
  Returns {'ok'} or {'stale', state}.
]]
--- @include "includes/ledger"

local id = ARGV[1]
local v = redis.call('HGET', KEYS[2], id)
if not v then return { 'stale', '' } end
local s, a, d, p, u = parseTask(v)
if s ~= 'F' or a ~= tonumber(ARGV[2]) then return { 'stale', s } end
redis.call('HSET', KEYS[2], id, packTask('W', a, d, p, u))
redis.call('ZADD', KEYS[3], nowMs() + tonumber(ARGV[3]), id)
redis.call('HINCRBY', KEYS[1], 'retries', 1)
return { 'ok' }
