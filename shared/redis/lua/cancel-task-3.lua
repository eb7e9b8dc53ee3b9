--[[
  A fetcher met a claimed task of a cancelled session before its request started: F → C at
  once, only for the attempt the caller holds and only while the session is cancelled.
  KEYS[1] session hash   KEYS[2] tasks hash   KEYS[3] leases zset
  ARGV[1] task id   ARGV[2] attempt the caller holds
  Returns {'ok'}, {'stale', state} (the task moved meanwhile) or {'running', status} (the
  session is not cancelled).
]]
--- @include "includes/ledger"

local status = redis.call('HGET', KEYS[1], 'status') or 'unknown'
if status ~= 'cancelled' then return { 'running', status } end
local id = ARGV[1]
local v = redis.call('HGET', KEYS[2], id)
if not v then return { 'stale', '' } end
local s, a, d, p, u = parseTask(v)
if s ~= 'F' or a ~= tonumber(ARGV[2]) then return { 'stale', s } end
redis.call('HSET', KEYS[2], id, packTask('C', a, d, p, u))
redis.call('ZREM', KEYS[3], id)
redis.call('HINCRBY', KEYS[1], 'cancelled', 1)
return { 'ok' }
