-- Shared by every script (prepended when loaded). Amounts travel as canonical signed
-- decimal strings; sums of figures too large for a double to hold exactly happen
-- server-side in 64-bit integers (INCRBY on a scratch key), so balances stay exact over the
-- whole int64 range.

local function cmp(a, b)
  local na = string.sub(a, 1, 1) == '-'
  local nb = string.sub(b, 1, 1) == '-'
  if na ~= nb then
    if na then return -1 else return 1 end
  end
  local ma = a
  local mb = b
  if na then
    ma = string.sub(a, 2)
    mb = string.sub(b, 2)
  end
  local r = 0
  if #ma ~= #mb then
    if #ma < #mb then r = -1 else r = 1 end
  elseif ma ~= mb then
    if ma < mb then r = -1 else r = 1 end
  end
  if na then r = -r end
  return r
end

local function neg(a)
  if a == '0' then return '0' end
  if string.sub(a, 1, 1) == '-' then return string.sub(a, 2) end
  return '-' .. a
end

-- a + b exactly, or nil when it leaves the int64 range. Figures of at most 15 characters
-- (below 10^15 in size) add exactly in Lua's doubles, which hold every integer up to 2^53;
-- larger ones go through the server's 64-bit INCRBY.
local function add(scratch, a, b)
  if #a <= 15 and #b <= 15 then
    return string.format('%.0f', tonumber(a) + tonumber(b))
  end
  redis.call('SET', scratch, a)
  local r = redis.pcall('INCRBY', scratch, b)
  if type(r) == 'table' and r.err then
    redis.call('DEL', scratch)
    return nil
  end
  local v = redis.call('GET', scratch)
  redis.call('DEL', scratch)
  return v
end

local function field(key, name)
  return redis.call('HGET', key, name) or '0'
end

-- A hold is one field of the holds hash: "amount expiry account" (the account last: it is
-- the one part that could hold a space).
local function hold_value(account, amount, expires_at)
  return amount .. ' ' .. expires_at .. ' ' .. account
end

-- The account and amount of a hold's value (nil when there is none).
local function read_hold(value)
  if not value then
    return nil, nil
  end
  local amount, _, account = string.match(value, '^(%S+) (%S+) (.*)$')
  return account, amount
end

-- An account's book as {balance, pending_in, pending_out} ('0' for a missing figure),
-- and whether the store has it already (then the account set has the account: every
-- write of a book adds it there).
local function book(key)
  local b = redis.call('HMGET', key, 'balance', 'pending_in', 'pending_out')
  return {b[1] or '0', b[2] or '0', b[3] or '0'}, (b[1] or b[2] or b[3]) ~= false
end

-- A packet of `delta` (minus its outgoing amount) going out on a book of `balance` and
-- `pending_out`: the available amount after it and the new pending_out; or nil and the
-- available amount now when that would go below `minimum` (or leave the int64 range).
local function outgoing(scratch, balance, pending_out, delta, minimum)
  local available = add(scratch, balance, neg(pending_out))
  if available == nil then
    return nil, '?'
  end
  local after = add(scratch, available, delta)
  local new_pending = add(scratch, pending_out, neg(delta))
  if after == nil or new_pending == nil or cmp(after, minimum) < 0 then
    return nil, available
  end
  return after, new_pending
end

-- Record a pending packet: its hash (the state, then the name, value pairs of
-- ARGV[first..]) and its entry in the pending zset.
local function write_packet(packet, pending, packet_id, score, first)
  local fields = {}
  for i = first, #ARGV do
    fields[#fields + 1] = ARGV[i]
  end
  redis.call('HSET', packet, 'state', 'pending', unpack(fields))
  redis.call('ZADD', pending, score, packet_id)
end
