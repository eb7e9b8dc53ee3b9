--[[
  Edits rows of the Redis results store in place (their position, hence the order, stays).
  KEYS[1] results index hash (task id -> position)   KEYS[2] results list
  ARGV[1] 'replace': then pairs of task id, record (JSON)
          'supplement': then task ids; their records get "supplement":true
          'remove': then task ids; their rows become empty strings (skipped by readers)
  Returns the number of rows changed.
]]
local mode = ARGV[1]
local changed = 0
local step = mode == 'replace' and 2 or 1
for i = 2, #ARGV, step do
  local position = redis.call('HGET', KEYS[1], ARGV[i])
  if position then
    position = tonumber(position)
    if mode == 'replace' then
      redis.call('LSET', KEYS[2], position, ARGV[i + 1])
    elseif mode == 'supplement' then
      local record = redis.call('LINDEX', KEYS[2], position)
      if record and record ~= '' and not string.find(record, '"supplement":true', 1, true) then
        redis.call('LSET', KEYS[2], position, string.sub(record, 1, -2) .. ',"supplement":true}')
      end
    else
      redis.call('LSET', KEYS[2], position, '')
      redis.call('HDEL', KEYS[1], ARGV[i])
    end
    changed = changed + 1
  end
end
return changed
