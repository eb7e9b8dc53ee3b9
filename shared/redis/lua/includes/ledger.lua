-- Shared pieces of the task ledger, inlined by the script loader.
-- A ledger entry is `state|attempt|depth|parent|url`:
--   state   P pending publish (leased)   Q queued            F fetching (leased)
--           W waiting for retry (leased) R result on its way to delivery (leased)
--           D delivered  X failed  S skipped  C cancelled   (terminal)
--   attempt fetch attempts started; depth link depth; parent task id or ''; url normalized URL.
-- Times come from the Redis clock (TIME), so replicas with skewed clocks agree on leases.

local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function parseTask(v)
  local s, a, d, p, u = string.match(v, '^(%u)|(%d+)|(%d+)|([^|]*)|(.*)$')
  return s, tonumber(a), tonumber(d), p, u
end

local function packTask(s, a, d, p, u)
  return s .. '|' .. a .. '|' .. d .. '|' .. p .. '|' .. u
end

local function isTerminal(s)
  return s == 'D' or s == 'X' or s == 'S' or s == 'C'
end

local COUNTER = { D = 'delivered', X = 'failed', S = 'skipped', C = 'cancelled' }

-- True when every admitted task of the session is terminal.
local function allTerminal(sessionKey)
  local c = redis.call('HMGET', sessionKey, 'admitted', 'delivered', 'failed', 'skipped', 'cancelled')
  local terminal = (tonumber(c[2]) or 0) + (tonumber(c[3]) or 0) + (tonumber(c[4]) or 0) + (tonumber(c[5]) or 0)
  return terminal >= (tonumber(c[1]) or 0)
end

-- Marks a running session completed when every admitted task is terminal. Returns true if it did.
local function completeIfDone(sessionKey, now)
  if redis.call('HGET', sessionKey, 'status') ~= 'running' then return false end
  if not allTerminal(sessionKey) then return false end
  redis.call('HSET', sessionKey, 'status', 'completed', 'finishedAt', now)
  return true
end

-- A change of a session's status made by an operator (cancel, pause, resume): the session's
-- `control` version grows and `<id>|<status>|<version>` goes out on the control channel, so
-- every fetcher knows at once; a fetcher that missed it reads status and version back.
local function announceControl(sessionKey, channel, id, status)
  local version = redis.call('HINCRBY', sessionKey, 'control', 1)
  redis.call('PUBLISH', channel, id .. '|' .. status .. '|' .. version)
  return version
end
