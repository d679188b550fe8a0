-- Compare-and-set one field of a hash: the write happens only if the field still holds what
-- the caller read. Used for cool-down state, so concurrent presses, schedulers and instances
-- never overwrite each other's changes.
-- KEYS[1]  hash
-- ARGV[1]  field
-- ARGV[2]  expected value ('' = the field must be absent)
-- ARGV[3]  new value ('' = delete the field)
-- Returns 1 when written, 0 when the field held something else.
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if (cur or '') ~= ARGV[2] then
  return 0
end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
end
return 1
