-- Admission of links into a session: limits and dedup, in one pass.
-- argv from index `first` on holds triplets: task id, depth, url.
-- New tasks enter the ledger as P (pending publish) with a lease: if their publisher dies
-- before the broker confirmed them, the cleaner publishes them again when the lease expires.
-- A parent that is processed again (redelivery) gets back the children it admitted that are
-- still P, so it publishes them again; duplicates on the queue are harmless.
-- Returns (list of admitted indices, 0-based among the triplets; number refused by maxPages),
-- or (nil, status) when the session does not admit anymore.
local function admitLinks(sessionKey, tasksKey, leasesKey, now, leaseMs, parent, argv, first)
  local meta = redis.call('HMGET', sessionKey, 'status', 'maxPages', 'admitted')
  if meta[1] ~= 'running' then return nil, meta[1] or 'unknown' end
  local maxPages = tonumber(meta[2]) or 0
  local admitted = tonumber(meta[3]) or 0
  local leaseUntil = now + leaseMs
  local out = {}
  local limited = 0
  local n = 0
  for i = first, #argv, 3 do
    local id, depth, url = argv[i], argv[i + 1], argv[i + 2]
    local existing = redis.call('HGET', tasksKey, id)
    if not existing then
      if admitted >= maxPages then
        limited = limited + 1
      else
        redis.call('HSET', tasksKey, id, packTask('P', 0, depth, parent, url))
        redis.call('ZADD', leasesKey, leaseUntil, id)
        admitted = admitted + 1
        out[#out + 1] = n
      end
    elseif parent ~= '' then
      local s, _, _, p = parseTask(existing)
      if s == 'P' and p == parent then out[#out + 1] = n end
    end
    n = n + 1
  end
  redis.call('HSET', sessionKey, 'admitted', admitted)
  if limited > 0 then redis.call('HINCRBY', sessionKey, 'limited', limited) end
  return out, limited
end
