-- KEYS[1] hold hash, KEYS[2] holds zset, KEYS[3] account set, KEYS[4] scratch
-- ARGV[1] packet id, ARGV[2] 'fulfilled' (the amount stays) or 'rejected' (it goes),
-- ARGV[3] balance key prefix
-- Returns 1 when this call ended the hold, 0 when there was none, -1 (nothing changed) when
-- a figure would leave the int64 range.
local account = redis.call('HGET', KEYS[1], 'account')
if not account then
  return 0
end
local book = ARGV[3] .. account
local x = neg(redis.call('HGET', KEYS[1], 'amount'))
local pending_in = add(KEYS[4], field(book, 'pending_in'), x)
local balance = field(book, 'balance')
if ARGV[2] ~= 'fulfilled' then
  balance = add(KEYS[4], balance, x)
end
if pending_in == nil or balance == nil then
  return -1
end
redis.call('HSET', book, 'balance', balance, 'pending_in', pending_in)
redis.call('SADD', KEYS[3], account)
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
