--[[
  The crawl index: records one fetch of a URL in its shard, the newest fetch winning.
  KEYS[1] the shard hash (keys.urlIndex)
  ARGV[1] field (the fingerprint's characters after the shard's)
  ARGV[2] the packed entry (shared/crawlindex/entry.ts: its first 9 characters are the fetch
          time, fixed-width base36, so entries compare as strings)
  ARGV[3] the packed time before which an entry has expired (now - index.retentionMs)
  ARGV[4] index.retentionMs (the shard expires when nothing was written to it for as long)
  ARGV[5] how many other fields to sample for expired entries (active expiry, as Redis does
          for keys: a shard that keeps being written sheds its dead entries)
  Returns {written, previous}: 1 when the entry was written (0: a newer fetch is recorded),
  and the entry the index held before ('' when none, or expired).
]]
local old = redis.call('HGET', KEYS[1], ARGV[1]) or ''
local oldTime = string.sub(old, 1, 9)
if old ~= '' and oldTime < ARGV[3] then old = '' end
local written = 0
if old == '' or string.sub(ARGV[2], 1, 9) >= oldTime then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  written = 1
end
local n = tonumber(ARGV[5])
if n > 0 then
  local sample = redis.call('HRANDFIELD', KEYS[1], n, 'WITHVALUES')
  for i = 1, #sample, 2 do
    if string.sub(sample[i + 1], 1, 9) < ARGV[3] then redis.call('HDEL', KEYS[1], sample[i]) end
  end
end
return { written, old }
