--[[
  A fetcher claims the tasks of a message before fetching them: for each task, compare-and-
  set to F with a fresh lease and the next attempt number. The lease covers the wait for a
  fetch slot, the fetch, the wait on the extract queue and the parse; when it expires the
  cleaner re-drives the task.
  KEYS[1] session hash   KEYS[2] tasks hash   KEYS[3] leases zset
  ARGV[1] lease (ms)   ARGV[2] max attempts
  ARGV[3] '1' when the message is a redelivery: its consumer died or lost its channel, so a
          live F lease is taken over at once instead of waiting for the cleaner (at worst
          the page is fetched twice; the first result wins)
  ARGV[4] lease (ms) of a task that waits while the session is paused: the delay before it is
          claimed again plus a margin
  ARGV[5..] task ids
  Returns one reply per task id, in order:
    {'ok', attempt}        fetch it
    {'busy', state}        another consumer holds a live lease: drop this copy
    {'done', state}        already terminal: drop
    {'cancelled'}          session cancelled: the task is now C
    {'closed'}             session closed: the task is now S(deadline)
    {'paused', attempt}    session paused: the task is now W with its attempt unchanged and
                           the pause lease; the caller hands it to a delay queue
    {'exhausted', attempt} every attempt was used by stages that never finished: the task
                           is now R and the caller delivers failed(timeout)
    {'unknown'}            no such session or task (expired): drop
]]
--- @include "includes/ledger"

local status = redis.call('HGET', KEYS[1], 'status')
local now = nowMs()
local leaseUntil = now + tonumber(ARGV[1])
local maxAttempts = tonumber(ARGV[2])
local takeOver = ARGV[3] == '1'
local pauseUntil = now + tonumber(ARGV[4])

local function claim(id)
  local v = redis.call('HGET', KEYS[2], id)
  if not status or not v then return { 'unknown' } end
  local s, a, d, p, u = parseTask(v)
  if isTerminal(s) then return { 'done', s } end

  if status == 'cancelled' or status == 'closed' then
    local final = status == 'cancelled' and 'C' or 'S'
    redis.call('HSET', KEYS[2], id, packTask(final, a, d, p, u))
    redis.call('ZREM', KEYS[3], id)
    redis.call('HINCRBY', KEYS[1], COUNTER[final], 1)
    return { status }
  end

  if s == 'F' or s == 'R' then
    local lease = tonumber(redis.call('ZSCORE', KEYS[3], id))
    if lease and lease > now and not (s == 'F' and takeOver) then return { 'busy', s } end
  end

  if status == 'paused' then
    -- Waiting uses no attempt.
    redis.call('HSET', KEYS[2], id, packTask('W', a, d, p, u))
    redis.call('ZADD', KEYS[3], pauseUntil, id)
    return { 'paused', a }
  end

  if a >= maxAttempts then
    redis.call('HINCRBY', KEYS[1], 'timedOut', 1)
    redis.call('HSET', KEYS[2], id, packTask('R', a, d, p, u))
    redis.call('ZADD', KEYS[3], leaseUntil, id)
    return { 'exhausted', a }
  end

  a = a + 1
  redis.call('HSET', KEYS[2], id, packTask('F', a, d, p, u))
  redis.call('ZADD', KEYS[3], leaseUntil, id)
  return { 'ok', a }
end

local replies = {}
for i = 5, #ARGV do replies[#replies + 1] = claim(ARGV[i]) end
return replies
