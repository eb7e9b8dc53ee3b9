--[[
  Delivery's one round trip per batch of records of one session: each task reaches its
  terminal state, its record is appended to the session's results exactly once, the counters
  move, the children its page admitted are confirmed on the queue (P → Q), and the session
  completes when every admitted task is terminal.
  KEYS[1] session hash   KEYS[2] tasks hash   KEYS[3] leases zset   KEYS[4] results list
  ARGV, for each record: task id, terminal state (D, X, S or C), '1' if a response was
  fetched, the record (a JSON object), n, n children task ids
  Returns {status, outcomes, event}: the status the records were appended under; one
  character per record, 'o' appended, 'd' duplicate (already terminal), 'u' unknown task;
  event 'completed', 'closed' or ''.
  A session that went partial gets its records marked "supplement":true; when its last task
  becomes terminal it closes early (event 'closed'). A closed session appends nothing.
]]
--- @include "includes/ledger"

local now = nowMs()
local status = redis.call('HGET', KEYS[1], 'status') or 'unknown'
local outcomes = {}
local counts = {}
local appended = {}
local supplements = 0

local function confirmChild(cid)
  local c = redis.call('HGET', KEYS[2], cid)
  if not c then return end
  local cs, ca, cd, cp, cu = parseTask(c)
  if cs == 'P' then
    redis.call('HSET', KEYS[2], cid, packTask('Q', ca, cd, cp, cu))
    redis.call('ZREM', KEYS[3], cid)
  end
end

local i = 1
while i <= #ARGV do
  local id, final, fetched, record = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local nchildren = tonumber(ARGV[i + 4])
  local childrenAt = i + 5
  i = childrenAt + nchildren
  local v = redis.call('HGET', KEYS[2], id)
  if not v then
    outcomes[#outcomes + 1] = 'u'
  else
    local s, a, d, p, u = parseTask(v)
    if isTerminal(s) then
      outcomes[#outcomes + 1] = 'd'
    else
      outcomes[#outcomes + 1] = 'o'
      redis.call('HSET', KEYS[2], id, packTask(final, a, d, p, u))
      redis.call('ZREM', KEYS[3], id)
      counts[COUNTER[final]] = (counts[COUNTER[final]] or 0) + 1
      if fetched == '1' then counts.fetched = (counts.fetched or 0) + 1 end
      if status ~= 'closed' then
        if status == 'partial' then
          record = string.sub(record, 1, -2) .. ',"supplement":true}'
          supplements = supplements + 1
        end
        appended[#appended + 1] = record
      end
      for k = childrenAt, childrenAt + nchildren - 1 do confirmChild(ARGV[k]) end
    end
  end
end

for field, n in pairs(counts) do redis.call('HINCRBY', KEYS[1], field, n) end
if supplements > 0 then redis.call('HINCRBY', KEYS[1], 'supplements', supplements) end
-- RPUSH in chunks: unpack is bounded by Lua's C stack.
for k = 1, #appended, 1000 do redis.call('RPUSH', KEYS[4], unpack(appended, k, math.min(k + 999, #appended))) end

local event = ''
if next(counts) ~= nil then
  if completeIfDone(KEYS[1], now) then
    event = 'completed'
  elseif status == 'partial' and allTerminal(KEYS[1]) then
    redis.call('HSET', KEYS[1], 'status', 'closed', 'finishedAt', now)
    event = 'closed'
  end
end
return { status, table.concat(outcomes), event }
