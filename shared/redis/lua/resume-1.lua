--[[
  Resumes a paused session: running again, its deadline and closeAt moved later by the time
  it was paused (pausedMs adds it up over every pause). A session whose every admitted task
  became terminal while it was paused completes now.
  KEYS[1] session hash
  ARGV[1] control channel   ARGV[2] session id
  Returns {'ok', deadlineAt, event} (event 'completed' or ''), {'conflict', status} or
  {'unknown'}.
]]
--- @include "includes/ledger"

local m = redis.call('HMGET', KEYS[1], 'status', 'pausedAt', 'deadlineAt', 'closeAt')
if not m[1] then return { 'unknown' } end
if m[1] ~= 'paused' then return { 'conflict', m[1] } end
local now = nowMs()
local paused = math.max(0, now - (tonumber(m[2]) or now))
local deadlineAt = (tonumber(m[3]) or now) + paused
local closeAt = (tonumber(m[4]) or now) + paused
redis.call('HSET', KEYS[1], 'status', 'running', 'deadlineAt', deadlineAt, 'closeAt', closeAt)
redis.call('HINCRBY', KEYS[1], 'pausedMs', paused)
redis.call('HDEL', KEYS[1], 'pausedAt')
local event = ''
if completeIfDone(KEYS[1], now) then event = 'completed' end
announceControl(KEYS[1], ARGV[1], ARGV[2], redis.call('HGET', KEYS[1], 'status'))
return { 'ok', deadlineAt, event }
