--[[
  Admits seed URLs into a session (the controller's side of the shared admission path),
  with the robots.txt and sitemap tasks of a session that asked for sitemaps.
  KEYS[1] session hash   KEYS[2] tasks hash   KEYS[3] leases zset   KEYS[4] roles hash
  ARGV[1] admit lease (ms)
  ARGV[2..] quadruplets: task id, depth, url, role ('' for a page)
  Returns {'ok', limited, verdicts} (one character per seed, see includes/admit) or
  {'closed', status}.
]]
--- @include "includes/ledger"
--- @include "includes/admit"

local adm, status = openAdmission(KEYS[1], KEYS[2], KEYS[3], KEYS[4])
if not adm then return { 'closed', status } end
local leaseUntil = nowMs() + tonumber(ARGV[1])
local verdicts = {}
for i = 2, #ARGV, 4 do
  local existing = redis.call('HGET', KEYS[2], ARGV[i])
  verdicts[#verdicts + 1] = admitOne(adm, leaseUntil, '', ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], existing)
end
closeAdmission(adm)
return { 'ok', adm.limited, table.concat(verdicts) }
