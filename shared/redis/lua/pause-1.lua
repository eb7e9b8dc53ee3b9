--[[
  Pauses a running session: nothing of it is fetched until resume-1 (the fetchers learn it
  from the control channel at once, or within their next refresh). The time paused is added
  to the deadline and closeAt on resume.
  KEYS[1] session hash
  ARGV[1] control channel   ARGV[2] session id
  Returns {'ok'}, {'conflict', status} or {'unknown'}.
]]
--- @include "includes/ledger"

local status = redis.call('HGET', KEYS[1], 'status')
if not status then return { 'unknown' } end
if status ~= 'running' then return { 'conflict', status } end
redis.call('HSET', KEYS[1], 'status', 'paused', 'pausedAt', nowMs())
announceControl(KEYS[1], ARGV[1], ARGV[2], 'paused')
return { 'ok' }
