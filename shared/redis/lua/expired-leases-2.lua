--[[
  The cleaner takes a batch of tasks whose lease expired, pushing each lease forward so a
  crashed sweep does not lose them and the next sweep does not take them twice.
  KEYS[1] tasks hash   KEYS[2] leases zset
  ARGV[1] batch size   ARGV[2] new lease (ms)
  Returns a flat list: task id, ledger entry, task id, ledger entry, ...
]]
--- @include "includes/ledger"

local now = nowMs()
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local out = {}
local leaseUntil = now + tonumber(ARGV[2])
for _, id in ipairs(ids) do
  local v = redis.call('HGET', KEYS[1], id)
  if v then
    redis.call('ZADD', KEYS[2], leaseUntil, id)
    out[#out + 1] = id
    out[#out + 1] = v
  else
    redis.call('ZREM', KEYS[2], id)
  end
end
return out
