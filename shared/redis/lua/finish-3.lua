--[[
  Delivery's one round trip per batch of records of one session: the terminal compare-and-set
  of each task (the record itself was written to the results store just before, idempotently
  by its task id: shared/results/store.ts), the counters, the children its page admitted
  confirmed on the queue (P -> Q), and the session completed when every admitted task is
  terminal.
  KEYS[1] session hash   KEYS[2] tasks hash   KEYS[3] leases zset
  ARGV, for each record: task id, terminal state (D, X, S or C), '1' if a response was
  fetched (else '0'), followed by ':<name>' when the record moves the session counter
  'recrawl:<name>' (fresh, notModified, changed, new), '1' if the task is a seed that did not
  end delivered, n, n children task ids
  Returns {status, codes, event}: the session's status; one character per record:
    'o' the task ended with this record
    's' the same, after the session went partial: the record is a supplement
    'n' the task ended, but the session is closed or cancelled, or the task was cancelled
        already: the record is not kept, nor any row of the task (a cancelled session's task
        ends C whatever the record says, and its children are not confirmed: the cleaner
        ends them C)
    'd' duplicate: the task was terminal already (the record is not the ledger's)
    'u' unknown task (or session)
  event 'completed', 'closed' or ''. A partial session whose last task becomes terminal
  closes early (event 'closed').
]]
--- @include "includes/ledger"

local now = nowMs()
local status = redis.call('HGET', KEYS[1], 'status') or 'unknown'
local codes = {}
local counts = {}
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
  local id, final, fetched, seedFailed = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local nchildren = tonumber(ARGV[i + 4])
  local childrenAt = i + 5
  i = childrenAt + nchildren
  local v = redis.call('HGET', KEYS[2], id)
  if not v then
    codes[#codes + 1] = 'u'
  else
    local s, a, d, p, u = parseTask(v)
    if s == 'C' then
      -- cancelled (by the cleaner or a cancel): such a task never keeps a record, so a row an
      -- earlier attempt wrote before it died goes too
      codes[#codes + 1] = 'n'
    elseif isTerminal(s) then
      codes[#codes + 1] = 'd'
    elseif status == 'cancelled' then
      redis.call('HSET', KEYS[2], id, packTask('C', a, d, p, u))
      redis.call('ZREM', KEYS[3], id)
      counts.cancelled = (counts.cancelled or 0) + 1
      codes[#codes + 1] = 'n'
    else
      redis.call('HSET', KEYS[2], id, packTask(final, a, d, p, u))
      redis.call('ZREM', KEYS[3], id)
      counts[COUNTER[final]] = (counts[COUNTER[final]] or 0) + 1
      if string.sub(fetched, 1, 1) == '1' then counts.fetched = (counts.fetched or 0) + 1 end
      if #fetched > 2 then
        local counter = 'recrawl:' .. string.sub(fetched, 3)
        counts[counter] = (counts[counter] or 0) + 1
      end
      if seedFailed == '1' then counts.seedsFailed = (counts.seedsFailed or 0) + 1 end
      if status == 'closed' then
        codes[#codes + 1] = 'n'
      elseif status == 'partial' then
        codes[#codes + 1] = 's'
        supplements = supplements + 1
      else
        codes[#codes + 1] = 'o'
      end
      for k = childrenAt, childrenAt + nchildren - 1 do confirmChild(ARGV[k]) end
    end
  end
end

for field, n in pairs(counts) do redis.call('HINCRBY', KEYS[1], field, n) end
if supplements > 0 then redis.call('HINCRBY', KEYS[1], 'supplements', supplements) end

local event = ''
if next(counts) ~= nil then
  if completeIfDone(KEYS[1], now) then
    event = 'completed'
  elseif status == 'partial' and allTerminal(KEYS[1]) then
    redis.call('HSET', KEYS[1], 'status', 'closed', 'finishedAt', now)
    event = 'closed'
  end
end
return { status, table.concat(codes), event }
