-- KEYS[1] holds hash, KEYS[2] account set, KEYS[3] scratch
-- ARGV[1] packet id, ARGV[2] 'fulfilled' (the amount stays) or 'rejected' (it goes),
-- ARGV[3] balance key prefix
-- Returns 1 when this call ended the hold, 0 when there was none, -1 (nothing changed) when
-- a figure would leave the int64 range.
local account, amount = read_hold(redis.call('HGET', KEYS[1], ARGV[1]))
if not account then
  return 0
end
local book = ARGV[3] .. account
local x = neg(amount)
local pending_in = add(KEYS[3], field(book, 'pending_in'), x)
local balance = field(book, 'balance')
if ARGV[2] ~= 'fulfilled' then
  balance = add(KEYS[3], balance, x)
end
if pending_in == nil or balance == nil then
  return -1
end
redis.call('HSET', book, 'balance', balance, 'pending_in', pending_in)
redis.call('SADD', KEYS[2], account)
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
