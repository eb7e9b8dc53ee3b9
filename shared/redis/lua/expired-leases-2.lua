--[[
  The cleaner takes a batch of tasks whose lease expired, pushing each lease forward so a
  crashed sweep does not lose them and the next sweep does not take them twice. Each task
  becomes P (pending publish), its attempt, depth, parent and URL kept: the cleaner publishes
  it again, then confirms P -> Q (confirm-queued-3, 'cas' on the entry returned here).
  Why P and not the state it had: the re-driven copy can reach a fetcher before that confirm.
  Left F or R with the lease just pushed forward, its claim would find a live lease, answer
  'busy' and drop the copy; the confirm would then make it Q with no lease and no message,
  and the task would never end (its session never completes). P is claimed at once.
  KEYS[1] tasks hash   KEYS[2] leases zset
  ARGV[1] batch size   ARGV[2] new lease (ms)
  Returns a flat list: task id, ledger entry (now P), task id, ledger entry, ...
]]
--- @include "includes/ledger"

local now = nowMs()
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local out = {}
local leaseUntil = now + tonumber(ARGV[2])
for _, id in ipairs(ids) do
  local v = redis.call('HGET', KEYS[1], id)
  if v then
    local s, a, d, p, u = parseTask(v)
    if s ~= 'P' and not isTerminal(s) then
      v = packTask('P', a, d, p, u)
      redis.call('HSET', KEYS[1], id, v)
    end
    redis.call('ZADD', KEYS[2], leaseUntil, id)
    out[#out + 1] = id
    out[#out + 1] = v
  else
    redis.call('ZREM', KEYS[2], id)
  end
end
return out
