-- KEYS[1] outgoing balance hash, KEYS[2] packet hash, KEYS[3] pending zset,
-- KEYS[4] account set, KEYS[5] scratch, KEYS[6] holds hash
-- ARGV[1] outgoing account, ARGV[2] -outgoing amount, ARGV[3] minimum, ARGV[4] packet id,
-- ARGV[5] zset score (outgoing expiry, ms), ARGV[6] incoming account, ARGV[7] incoming
-- amount, ARGV[8..] packet fields as name, value pairs
-- Returns {1, available} when recorded, {0, available} when the minimum would be broken
-- (or the amount in flight would leave the int64 range), {-1, ''} when the id is taken,
-- {-2, ''} when the packet has no hold to take over, {-3, ''} when its hold is for another
-- account or amount. A nonzero incoming amount's hold is taken over (deleted) on success.
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {-1, ''}
end
local after, figure = outgoing(KEYS[5], field(KEYS[1], 'balance'),
  field(KEYS[1], 'pending_out'), ARGV[2], ARGV[3])
if after == nil then
  return {0, figure}  -- the available amount
end
if ARGV[7] ~= '0' then
  local account, amount = read_hold(redis.call('HGET', KEYS[6], ARGV[4]))
  if not account then
    return {-2, ''}
  end
  if account ~= ARGV[6] or amount ~= ARGV[7] then
    return {-3, ''}
  end
  redis.call('HDEL', KEYS[6], ARGV[4])
end
redis.call('HSET', KEYS[1], 'pending_out', figure)  -- the new pending_out
redis.call('SADD', KEYS[4], ARGV[1])
write_packet(KEYS[2], KEYS[3], ARGV[4], ARGV[5], 8)
return {1, after}
