--[[
  The session deadline: a running session becomes partial (what is there is delivered now;
  later results are supplements until closeAt); a partial one past closeAt becomes closed.
  Records the ledger accepts from now on are supplements (finish-3 says which).
  KEYS[1] session hash
  Returns {'partial'}, {'closed'}, {'unchanged', status} or {'unknown'}.
]]
--- @include "includes/ledger"

local m = redis.call('HMGET', KEYS[1], 'status', 'deadlineAt', 'closeAt')
if not m[1] then return { 'unknown' } end
local now = nowMs()
if m[1] == 'running' and now >= tonumber(m[2]) then
  redis.call('HSET', KEYS[1], 'status', 'partial', 'partialAt', now)
  return { 'partial' }
end
if m[1] == 'partial' and now >= tonumber(m[3]) then
  redis.call('HSET', KEYS[1], 'status', 'closed', 'finishedAt', now)
  return { 'closed' }
end
return { 'unchanged', m[1] }
