--[[
  The Redis results store's idempotent append: each record is appended to the session's
  results list unless its task id has a row already.
  KEYS[1] results index hash (task id -> position in the list)   KEYS[2] results list
  ARGV pairs: task id, record (JSON)
  Returns one integer per record: 1 appended, 0 the task id has a row already.
]]
local out = {}
for i = 1, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call('HEXISTS', KEYS[1], id) == 1 then
    out[#out + 1] = 0
  else
    local position = redis.call('RPUSH', KEYS[2], ARGV[i + 1]) - 1
    redis.call('HSET', KEYS[1], id, position)
    out[#out + 1] = 1
  end
end
return out
