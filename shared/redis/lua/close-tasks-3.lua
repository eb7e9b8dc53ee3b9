--[[
  After a session closed (deadline + closeAfterMs) or was cancelled: one batch of the tasks
  that never finished becomes terminal (S for a closed session, C for a cancelled one), so
  every admitted URL ends in exactly one terminal state. Walks the ledger with HSCAN, a
  bounded batch per call; call again with the returned cursor until it is '0'.
  KEYS[1] session hash   KEYS[2] tasks hash   KEYS[3] leases zset
  ARGV[1] cursor   ARGV[2] batch size
  Returns {next cursor, tasks ended}.
]]
--- @include "includes/ledger"

local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'closed' and status ~= 'cancelled' then return { '0', 0 } end
local final = status == 'closed' and 'S' or 'C'
local reply = redis.call('HSCAN', KEYS[2], ARGV[1], 'COUNT', tonumber(ARGV[2]))
local entries = reply[2]
local ended = 0
for i = 1, #entries, 2 do
  local s, a, d, p, u = parseTask(entries[i + 1])
  if s and not isTerminal(s) then
    redis.call('HSET', KEYS[2], entries[i], packTask(final, a, d, p, u))
    redis.call('ZREM', KEYS[3], entries[i])
    ended = ended + 1
  end
end
if ended > 0 then redis.call('HINCRBY', KEYS[1], COUNTER[final], ended) end
return { reply[1], ended }
