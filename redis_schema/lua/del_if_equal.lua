-- Compare-and-delete one key: it is deleted only if it still holds what the caller read, so a
-- newer value written meanwhile (an agent's next call) stays. One key: one Redis Cluster slot.
-- KEYS[1]  the key
-- ARGV[1]  the value read
-- Returns 1 when deleted, 0 when the key held something else (or nothing).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
