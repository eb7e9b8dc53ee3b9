--[[
  Delivery's one round trip per page: the task reaches its terminal state, its record is
  appended to the session's results exactly once, the counters move, the children the page
  admitted are confirmed on the queue (P → Q), and the session completes when every
  admitted task is terminal.
  KEYS[1] session hash   KEYS[2] tasks hash   KEYS[3] leases zset   KEYS[4] results list
  ARGV[1] task id   ARGV[2] terminal state (D, X, S or C)   ARGV[3] '1' if a response was fetched
  ARGV[4] record (a JSON object)   ARGV[5..] children task ids
  Returns {'ok' | 'completed' | 'closed', status the record was appended under}, {'duplicate'}
  or {'unknown'}.
  A session that went partial gets the record marked "supplement":true; when its last task
  becomes terminal it closes early ({'closed'}).
]]
--- @include "includes/ledger"

local id = ARGV[1]
local final = ARGV[2]
local v = redis.call('HGET', KEYS[2], id)
if not v then return { 'unknown' } end
local s, a, d, p, u = parseTask(v)
if isTerminal(s) then return { 'duplicate' } end
local now = nowMs()
local status = redis.call('HGET', KEYS[1], 'status') or 'unknown'

redis.call('HSET', KEYS[2], id, packTask(final, a, d, p, u))
redis.call('ZREM', KEYS[3], id)
redis.call('HINCRBY', KEYS[1], COUNTER[final], 1)
if ARGV[3] == '1' then redis.call('HINCRBY', KEYS[1], 'fetched', 1) end

if status ~= 'closed' then
  local record = ARGV[4]
  if status == 'partial' then
    record = string.sub(record, 1, -2) .. ',"supplement":true}'
    redis.call('HINCRBY', KEYS[1], 'supplements', 1)
  end
  redis.call('RPUSH', KEYS[4], record)
end

for i = 5, #ARGV do
  local c = redis.call('HGET', KEYS[2], ARGV[i])
  if c then
    local cs, ca, cd, cp, cu = parseTask(c)
    if cs == 'P' then
      redis.call('HSET', KEYS[2], ARGV[i], packTask('Q', ca, cd, cp, cu))
      redis.call('ZREM', KEYS[3], ARGV[i])
    end
  end
end

if completeIfDone(KEYS[1], now) then return { 'completed', status } end
if status == 'partial' and allTerminal(KEYS[1]) then
  redis.call('HSET', KEYS[1], 'status', 'closed', 'finishedAt', now)
  return { 'closed', status }
end
return { 'ok', status }
