-- KEYS[1] balance hash, KEYS[2] account set, KEYS[3] scratch
-- ARGV[1] account, ARGV[2] balance delta, ARGV[3] pending_in delta, ARGV[4] pending_out delta
-- Returns {1, new balance}, or {0, balance} (nothing changed) when a figure would leave the
-- int64 range.
local balance = add(KEYS[3], field(KEYS[1], 'balance'), ARGV[2])
local pending_in = add(KEYS[3], field(KEYS[1], 'pending_in'), ARGV[3])
local pending_out = add(KEYS[3], field(KEYS[1], 'pending_out'), ARGV[4])
if balance == nil or pending_in == nil or pending_out == nil then
  return {0, field(KEYS[1], 'balance')}
end
redis.call('HSET', KEYS[1], 'balance', balance, 'pending_in', pending_in, 'pending_out', pending_out)
redis.call('SADD', KEYS[2], ARGV[1])
return {1, balance}
