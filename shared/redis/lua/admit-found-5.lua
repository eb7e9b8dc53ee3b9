--[[
  The extractor's one round trip per batch of pages of one session. For each page, its task
  moves to R (its record is on the way to delivery, leased) and the links found on it are
  admitted (see includes/admit), with the spider-trap limits:
  - the per-host page limit of the session: a link new to the session whose host already has
    `maxPagesPerHost` admitted links is refused (verdict 'h', counted as trap:host_pages);
  - counters of the links the extractor refused before asking (trap:<reason> fields of the
    session hash), added once per page (not again when the page is processed again).
  A link found on two pages of the batch is admitted under the first. Links of robots.txt and
  sitemap documents carry a role (see includes/admit).
  KEYS[1] session hash   KEYS[2] tasks hash   KEYS[3] leases zset   KEYS[4] host page counts hash
  KEYS[5] roles hash
  ARGV[1] result lease (ms)   ARGV[2] admit lease (ms)   ARGV[3] pages per host (0 = unlimited)
  ARGV[4] retention of the session's keys (ms)
  then for each page: task id, n, n pairs (reason, count) of links refused before asking,
  m, m quintuplets (child task id, depth, url, host, role: '' for a page)
  Returns one reply per page, in order:
    {'ok', verdicts, limited, hostRefused}  verdicts: one character per link, 'a' admitted
                         (publish it), 'e' already known, 'l' refused by maxPages, 'h' refused
                         by the per-host limit
    {'closed', status}   the session admits no more links: the page is kept
    {'done', state}      the page's task is already terminal: drop it
    {'unknown'}          no such task (or session)
]]
--- @include "includes/ledger"
--- @include "includes/admit"

local now = nowMs()
local resultUntil = now + tonumber(ARGV[1])
local admitUntil = now + tonumber(ARGV[2])
local perHost = tonumber(ARGV[3])
local adm, closedStatus = openAdmission(KEYS[1], KEYS[2], KEYS[3], KEYS[5])
local hostCounts = {}
local counted = false
local replies = {}

local function admitPage(id, firstTime, pairsAt, npairs, linksAt, nlinks)
  local verdicts = {}
  local limitedBefore = adm.limited
  local hostRefused = 0
  for k = linksAt, linksAt + 5 * (nlinks - 1), 5 do
    local cid, host = ARGV[k], ARGV[k + 3]
    local existing = redis.call('HGET', KEYS[2], cid)
    local verdict = nil
    if not existing and perHost > 0 then
      if hostCounts[host] == nil then hostCounts[host] = tonumber(redis.call('HGET', KEYS[4], host)) or 0 end
      if hostCounts[host] >= perHost then
        verdict = 'h'
        hostRefused = hostRefused + 1
      end
    end
    if verdict == nil then
      verdict = admitOne(adm, admitUntil, id, cid, ARGV[k + 1], ARGV[k + 2], ARGV[k + 4], existing)
      if verdict == 'a' and not existing and perHost > 0 then
        hostCounts[host] = hostCounts[host] + 1
        redis.call('HINCRBY', KEYS[4], host, 1)
        counted = true
      end
    end
    verdicts[#verdicts + 1] = verdict
  end
  if firstTime then
    for k = pairsAt, pairsAt + 2 * (npairs - 1), 2 do redis.call('HINCRBY', KEYS[1], 'trap:' .. ARGV[k], ARGV[k + 1]) end
    if hostRefused > 0 then redis.call('HINCRBY', KEYS[1], 'trap:host_pages', hostRefused) end
  end
  return { 'ok', table.concat(verdicts), adm.limited - limitedBefore, hostRefused }
end

local i = 5
while i <= #ARGV do
  local id = ARGV[i]
  local npairs = tonumber(ARGV[i + 1])
  local pairsAt = i + 2
  local nlinks = tonumber(ARGV[pairsAt + 2 * npairs])
  local linksAt = pairsAt + 2 * npairs + 1
  i = linksAt + 5 * nlinks
  local v = redis.call('HGET', KEYS[2], id)
  if not v then
    replies[#replies + 1] = { 'unknown' }
  else
    local s, a, d, p, u = parseTask(v)
    if isTerminal(s) then
      replies[#replies + 1] = { 'done', s }
    else
      local firstTime = s ~= 'R'
      if firstTime then redis.call('HSET', KEYS[2], id, packTask('R', a, d, p, u)) end
      redis.call('ZADD', KEYS[3], resultUntil, id)
      if adm then
        replies[#replies + 1] = admitPage(id, firstTime, pairsAt, npairs, linksAt, nlinks)
      else
        replies[#replies + 1] = { 'closed', closedStatus }
      end
    end
  end
end

if adm then closeAdmission(adm) end
if counted then
  local closeAt = tonumber(redis.call('HGET', KEYS[1], 'closeAt')) or now
  redis.call('PEXPIRE', KEYS[4], math.max(0, closeAt - now) + tonumber(ARGV[4]))
end
return replies
