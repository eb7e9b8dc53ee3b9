--[[
  Cancels a session that is running, paused or partial, and tells every fetcher at once
  (PUBLISH on the sessions' control channel). Tasks still queued end as C when a fetcher
  claims them, claimed ones when a fetcher next checks the session (cancel-task-3), records
  on their way when delivery meets them (finish-3), and the cleaner ends the rest
  (close-tasks-3).
  KEYS[1] session hash
  ARGV[1] control channel   ARGV[2] session id
  Returns {'ok', previous status}, {'unchanged', status} or {'unknown'}.
]]
--- @include "includes/ledger"

local status = redis.call('HGET', KEYS[1], 'status')
if not status then return { 'unknown' } end
if status ~= 'running' and status ~= 'partial' and status ~= 'paused' then return { 'unchanged', status } end
local now = nowMs()
redis.call('HSET', KEYS[1], 'status', 'cancelled', 'finishedAt', now)
if status == 'paused' then
  local pausedAt = tonumber(redis.call('HGET', KEYS[1], 'pausedAt')) or now
  redis.call('HINCRBY', KEYS[1], 'pausedMs', math.max(0, now - pausedAt))
  redis.call('HDEL', KEYS[1], 'pausedAt')
end
announceControl(KEYS[1], ARGV[1], ARGV[2], 'cancelled')
return { 'ok', status }
