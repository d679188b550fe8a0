-- A console login attempt, counted before its password is checked (redis_schema/logins.py).
-- KEYS[1]: the account's hash (field "all": failures from any address; "a:<addr>": from one address)
-- KEYS[2]: the address's counter (failures for any account)
-- ARGV: address, limit per account and address, limit per account, limit per address, window (s), mode
-- mode "try": when any count is at its limit, nothing changes: {0, which} (1 = account and address,
--   2 = account, 3 = address). Otherwise each count goes up by one and the window starts again:
--   {1, account and address, account, address}. The check and the count are one step, so of N
--   attempts sent at once no more than the limit get to check their password.
-- mode "ok": the password was right: the account-and-address count is cleared and the attempt
--   taken back from the other two. Returns {1}.
local pair = 'a:' .. ARGV[1]
if ARGV[6] == 'ok' then
  redis.call('HDEL', KEYS[1], pair)
  if tonumber(redis.call('HGET', KEYS[1], 'all') or '0') > 0 then redis.call('HINCRBY', KEYS[1], 'all', -1) end
  if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
  return {1}
end
local counts = {
  tonumber(redis.call('HGET', KEYS[1], pair) or '0'),
  tonumber(redis.call('HGET', KEYS[1], 'all') or '0'),
  tonumber(redis.call('GET', KEYS[2]) or '0'),
}
for i = 1, 3 do
  if counts[i] >= tonumber(ARGV[i + 1]) then return {0, i} end
end
local window = tonumber(ARGV[5])
local p = redis.call('HINCRBY', KEYS[1], pair, 1)
local a = redis.call('HINCRBY', KEYS[1], 'all', 1)
redis.call('EXPIRE', KEYS[1], window)
local d = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], window)
return {1, p, a, d}
