-- KEYS[1] packet hash, KEYS[2] pending zset, KEYS[3] finished set, KEYS[4] scratch
-- ARGV[1] packet id, ARGV[2] outcome, ARGV[3] balance key prefix
-- Returns 1 when this call ended the packet, 0 when it was unknown or already ended, -1
-- (nothing changed) when a balance would leave the int64 range.
if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then
  return 0
end
local incoming = ARGV[3] .. redis.call('HGET', KEYS[1], 'incoming_account')
local outgoing = ARGV[3] .. redis.call('HGET', KEYS[1], 'outgoing_account')
local x = redis.call('HGET', KEYS[1], 'incoming_amount')
local y = redis.call('HGET', KEYS[1], 'outgoing_amount')
-- Work out every new figure first, write only if all fit (the accounts may be the same).
local changes = {}
local function change(key, name, delta)
  local id = key .. '\n' .. name
  local old = changes[id] or field(key, name)
  local new = add(KEYS[4], old, delta)
  if new == nil then
    return false
  end
  changes[id] = new
  return true
end
local ok = change(incoming, 'pending_in', neg(x)) and change(outgoing, 'pending_out', neg(y))
if ARGV[2] == 'fulfilled' then
  ok = ok and change(outgoing, 'balance', neg(y))
else
  ok = ok and change(incoming, 'balance', neg(x))
end
if not ok then
  return -1
end
for id, value in pairs(changes) do
  local at = string.find(id, '\n', 1, true)
  redis.call('HSET', string.sub(id, 1, at - 1), string.sub(id, at + 1), value)
end
redis.call('HSET', KEYS[1], 'state', ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
return 1
