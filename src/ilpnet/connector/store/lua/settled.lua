-- KEYS[1] balance hash, KEYS[2] account set, KEYS[3] scratch, KEYS[4] idempotency key or ''
-- ARGV[1] account, ARGV[2] balance delta, ARGV[3] key lifetime (s)
-- Returns {1, new balance}; {2, balance} when the key was already applied (nothing
-- changed); {0, balance} when the balance would leave the int64 range.
local balance = field(KEYS[1], 'balance')
if KEYS[4] ~= '' and redis.call('EXISTS', KEYS[4]) == 1 then
  return {2, balance}
end
local new = add(KEYS[3], balance, ARGV[2])
if new == nil then
  return {0, balance}
end
redis.call('HSET', KEYS[1], 'balance', new)
redis.call('SADD', KEYS[2], ARGV[1])
if KEYS[4] ~= '' then
  redis.call('SET', KEYS[4], '1', 'EX', ARGV[3])
end
return {1, new}
