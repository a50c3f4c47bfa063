-- KEYS[1] balance hash, KEYS[2] account set, KEYS[3] scratch, KEYS[4] decision key or ''
-- ARGV[1] account, ARGV[2] threshold, ARGV[3] settle_to, ARGV[4] decision lifetime (s)
-- Returns the amount by which the balance was raised ('0' when not below the threshold).
-- With a decision key, the amount is kept under it and a repeated call returns it again.
if KEYS[4] ~= '' then
  local decided = redis.call('GET', KEYS[4])
  if decided then
    return decided
  end
end
local amount = '0'
local balance = field(KEYS[1], 'balance')
if cmp(balance, ARGV[2]) < 0 then
  local raised = add(KEYS[3], ARGV[3], neg(balance))
  if raised ~= nil and cmp(raised, '0') > 0 then
    amount = raised
    redis.call('HSET', KEYS[1], 'balance', ARGV[3])
    redis.call('SADD', KEYS[2], ARGV[1])
  end
end
if KEYS[4] ~= '' then
  redis.call('SET', KEYS[4], amount, 'EX', ARGV[4])
end
return amount
