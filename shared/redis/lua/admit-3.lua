--[[
  Admits seed URLs into a session (the controller's side of the shared admission path).
  KEYS[1] session hash   KEYS[2] tasks hash   KEYS[3] leases zset
  ARGV[1] admit lease (ms)
  ARGV[2..] triplets: task id, depth, url
  Returns {'ok', limited, {admitted indices}} or {'closed', status}.
]]
--- @include "includes/ledger"
--- @include "includes/admit"

local now = nowMs()
local out, limited = admitLinks(KEYS[1], KEYS[2], KEYS[3], now, tonumber(ARGV[1]), '', ARGV, 2)
if out == nil then return { 'closed', limited } end
return { 'ok', limited, out }
