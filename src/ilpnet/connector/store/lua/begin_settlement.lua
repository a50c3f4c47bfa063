-- KEYS[1] balance hash, KEYS[2] account set, KEYS[3] scratch
-- ARGV[1] account, ARGV[2] threshold, ARGV[3] settle_to
-- Returns the amount by which the balance was raised ('0' when not below the threshold).
local balance = field(KEYS[1], 'balance')
if cmp(balance, ARGV[2]) >= 0 then
  return '0'
end
local amount = add(KEYS[3], ARGV[3], neg(balance))
if amount == nil or cmp(amount, '0') <= 0 then
  return '0'
end
redis.call('HSET', KEYS[1], 'balance', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
return amount
