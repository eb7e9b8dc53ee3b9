--[[
  Cancels a session that is still running or partial. Tasks still queued end as C when a
  fetcher claims them.
  KEYS[1] session hash
  Returns {'ok', previous status}, {'unchanged', status} or {'unknown'}.
]]
--- @include "includes/ledger"

local status = redis.call('HGET', KEYS[1], 'status')
if not status then return { 'unknown' } end
if status ~= 'running' and status ~= 'partial' then return { 'unchanged', status } end
redis.call('HSET', KEYS[1], 'status', 'cancelled', 'finishedAt', nowMs())
return { 'ok', status }
