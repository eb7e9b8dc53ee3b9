--[[
  Releases a lock taken with SET NX PX, only if the caller still holds it (its token).
  KEYS[1] lock
  ARGV[1] token
  Returns 1 when released, 0 when the lock had expired or belongs to someone else.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
