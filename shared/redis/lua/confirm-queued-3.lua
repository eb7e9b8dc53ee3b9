--[[
  Confirms that tasks are on the fetch queue: P → Q, lease dropped. Used after the broker
  confirmed a publish of seeds or of re-driven tasks (children of a page are confirmed by
  deliver-4 instead, saving a round trip).
  KEYS[1] session hash   KEYS[2] tasks hash   KEYS[3] leases zset
  ARGV[1..] task ids, or pairs when ARGV[1] == 'cas': task id, expected ledger entry
  Returns the number of tasks moved. In 'cas' mode (the cleaner's re-drive) the session's
  `redriven` counter grows by that number.
]]
--- @include "includes/ledger"

local moved = 0
local cas = ARGV[1] == 'cas'
local step = cas and 2 or 1
local first = cas and 2 or 1
for i = first, #ARGV, step do
  local id = ARGV[i]
  local v = redis.call('HGET', KEYS[2], id)
  if v and (not cas or v == ARGV[i + 1]) then
    local s, a, d, p, u = parseTask(v)
    if not isTerminal(s) and s ~= 'Q' and (cas or s == 'P') then
      redis.call('HSET', KEYS[2], id, packTask('Q', a, d, p, u))
      redis.call('ZREM', KEYS[3], id)
      moved = moved + 1
    end
  end
end
if cas and moved > 0 then redis.call('HINCRBY', KEYS[1], 'redriven', moved) end
return moved
