--[[
  The config center's write: replaces the live overrides as one new version, with an audit
  entry, and announces the version on the change channel. Compare-and-set when an expected
  version is given.
  KEYS[1] config hash (version, overrides, updatedAt, updatedBy)   KEYS[2] history list
  ARGV[1] expected version or ''   ARGV[2] new overrides (JSON)   ARGV[3] audit entry (a JSON
  object without version and at; spliced as text, so Lua's JSON encoder never rewrites it —
  it cannot tell [] from {})   ARGV[4] history length kept   ARGV[5] change channel   ARGV[6] who
  Returns {'ok', version} or {'conflict', current version}.
]]
--- @include "includes/ledger"

local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= current then
  return { 'conflict', current }
end
local version = current + 1
local now = nowMs()
local entry = '{"version":' .. version .. ',"at":' .. now .. ',' .. string.sub(ARGV[3], 2)
redis.call('HSET', KEYS[1], 'version', version, 'overrides', ARGV[2], 'updatedAt', now, 'updatedBy', ARGV[6])
redis.call('LPUSH', KEYS[2], entry)
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[4]) - 1)
redis.call('PUBLISH', ARGV[5], version)
return { 'ok', version }
