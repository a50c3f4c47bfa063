-- KEYS[1] packet hash, KEYS[2] pending zset, KEYS[3] finished set, KEYS[4] scratch
-- ARGV[1] packet id, ARGV[2] outcome, ARGV[3] balance key prefix
-- Returns 1 when this call ended the packet, 0 when it was unknown or already ended, -1
-- (nothing changed) when a balance would leave the int64 range.
local p = redis.call('HMGET', KEYS[1], 'state', 'incoming_account', 'outgoing_account',
  'incoming_amount', 'outgoing_amount')
if p[1] ~= 'pending' then
  return 0
end
local incoming = ARGV[3] .. p[2]
local outgoing = ARGV[3] .. p[3]
local x = neg(p[4])
local y = neg(p[5])
-- Work out every new figure first, write only if all fit (the accounts may be the same).
local fulfilled = ARGV[2] == 'fulfilled'
local b = book(incoming)
local balance, pending_in, pending_out = b[1], add(KEYS[4], b[2], x), b[3]
if not fulfilled then
  balance = add(KEYS[4], balance, x)
end
if balance == nil or pending_in == nil then
  return -1
end
local out_balance = nil
local out_pending_out = nil
if outgoing == incoming then
  pending_out = add(KEYS[4], pending_out, y)
  if fulfilled then
    balance = add(KEYS[4], balance, y)
  end
else
  local o = book(outgoing)
  out_balance, out_pending_out = o[1], add(KEYS[4], o[3], y)
  if fulfilled then
    out_balance = add(KEYS[4], out_balance, y)
  end
  if out_balance == nil or out_pending_out == nil then
    return -1
  end
end
if balance == nil or pending_out == nil then
  return -1
end
redis.call('HSET', incoming, 'balance', balance, 'pending_in', pending_in, 'pending_out',
  pending_out)
if out_balance ~= nil then
  redis.call('HSET', outgoing, 'balance', out_balance, 'pending_out', out_pending_out)
end
redis.call('HSET', KEYS[1], 'state', ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
return 1
