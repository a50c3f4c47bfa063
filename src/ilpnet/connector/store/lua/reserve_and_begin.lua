-- reserve_incoming.lua and begin_packet.lua in one step, with no hold between them.
-- KEYS[1] incoming balance hash, KEYS[2] outgoing balance hash, KEYS[3] packet hash,
-- KEYS[4] pending zset, KEYS[5] account set, KEYS[6] scratch
-- ARGV[1] incoming account, ARGV[2] incoming amount, ARGV[3] maximum, ARGV[4] outgoing
-- account, ARGV[5] -outgoing amount, ARGV[6] minimum, ARGV[7] packet id, ARGV[8] zset
-- score (outgoing expiry, ms), ARGV[9..] packet fields as name, value pairs
-- Returns {1, available} when recorded; nothing changed: {0, incoming balance} when the
-- maximum would be exceeded, {-1, ''} when the id is taken, {2, available} when the
-- minimum would be broken (or a figure would leave the int64 range).
local b, known = book(KEYS[1])
local balance = b[1]
local new_balance = balance
local new_pending_in = nil
if ARGV[2] ~= '0' then
  new_balance = add(KEYS[6], balance, ARGV[2])
  new_pending_in = add(KEYS[6], b[2], ARGV[2])
  if new_balance == nil or new_pending_in == nil or cmp(new_balance, ARGV[3]) > 0 then
    return {0, balance}
  end
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  return {-1, ''}
end
local out_balance, pending_out, out_known = new_balance, b[3], known
if KEYS[2] ~= KEYS[1] then
  local o
  o, out_known = book(KEYS[2])
  out_balance, pending_out = o[1], o[3]
end
local after, figure = outgoing(KEYS[6], out_balance, pending_out, ARGV[5], ARGV[6])
if after == nil then
  return {2, figure}  -- the available amount
end
if new_pending_in ~= nil then
  redis.call('HSET', KEYS[1], 'balance', new_balance, 'pending_in', new_pending_in)
  if not known then
    redis.call('SADD', KEYS[5], ARGV[1])
  end
end
redis.call('HSET', KEYS[2], 'pending_out', figure)  -- the new pending_out
if not out_known then
  redis.call('SADD', KEYS[5], ARGV[4])
end
write_packet(KEYS[3], KEYS[4], ARGV[7], ARGV[8], 9)
return {1, after}
