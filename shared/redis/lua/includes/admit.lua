-- Admission of links into a session: page limit and dedup, link by link, with the
-- session's counters read once (openAdmission) and written once (closeAdmission) per call.
-- New tasks enter the ledger as P (pending publish) with a lease: if their publisher dies
-- before the broker confirmed them, the cleaner publishes them again when the lease expires.
-- A task that is no page (role robots or sitemap) gets its role recorded beside it, in the
-- same call, so a re-drive knows it. A parent that is processed again (redelivery) gets back
-- the children it admitted that are still P, so it publishes them again; duplicates on the
-- queue are harmless.
--
-- Verdicts, one character per link:
--   'a' admitted: publish it (new, or still P under this same parent)
--   'e' already known to the session
--   'l' refused: the session reached maxPages

-- The admission state of a running (or paused: links of pages fetched before the pause still
-- count) session, or nil and its status when it admits no more.
local function openAdmission(sessionKey, tasksKey, leasesKey, rolesKey)
  local meta = redis.call('HMGET', sessionKey, 'status', 'maxPages', 'admitted')
  if meta[1] ~= 'running' and meta[1] ~= 'paused' then return nil, meta[1] or 'unknown' end
  local admitted = tonumber(meta[3]) or 0
  return {
    key = sessionKey, tasks = tasksKey, leases = leasesKey, roles = rolesKey,
    maxPages = tonumber(meta[2]) or 0, admitted = admitted, before = admitted, limited = 0,
  }
end

-- The verdict on one link; `existing` is its ledger entry (false when new), `role` '' for a page.
local function admitOne(adm, leaseUntil, parent, id, depth, url, role, existing)
  if not existing then
    if adm.admitted >= adm.maxPages then
      adm.limited = adm.limited + 1
      return 'l'
    end
    redis.call('HSET', adm.tasks, id, packTask('P', 0, depth, parent, url))
    redis.call('ZADD', adm.leases, leaseUntil, id)
    if role ~= '' then redis.call('HSET', adm.roles, id, role) end
    adm.admitted = adm.admitted + 1
    return 'a'
  end
  if parent ~= '' then
    local s, _, _, p = parseTask(existing)
    if s == 'P' and p == parent then return 'a' end
  end
  return 'e'
end

local function closeAdmission(adm)
  if adm.admitted ~= adm.before then redis.call('HSET', adm.key, 'admitted', adm.admitted) end
  if adm.limited > 0 then redis.call('HINCRBY', adm.key, 'limited', adm.limited) end
end
