-- KEYS[1] balance hash, KEYS[2] account set, KEYS[3] scratch
-- ARGV[1] account, ARGV[2] amount, ARGV[3] maximum
-- Returns {1, new balance}, or {0, current balance} when the maximum would be exceeded (or
-- a figure would leave the int64 range).
local balance = field(KEYS[1], 'balance')
local new = add(KEYS[3], balance, ARGV[2])
local pending_in = add(KEYS[3], field(KEYS[1], 'pending_in'), ARGV[2])
if new == nil or pending_in == nil or cmp(new, ARGV[3]) > 0 then
  return {0, balance}
end
redis.call('HSET', KEYS[1], 'balance', new, 'pending_in', pending_in)
redis.call('SADD', KEYS[2], ARGV[1])
return {1, new}
