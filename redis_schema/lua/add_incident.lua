-- Add one incident to a caller's hash, at most once per (linkedid, source).
-- Fields of an incident are "<n>.<suffix>", n a short per-caller index (field "n" counts),
-- so the 12-character incident id is stored once ("<n>.i"), not in every field name.
-- KEYS[1]  caller hash
-- ARGV[1]  new incident id
-- ARGV[2]  linkedid used for de-duplication ('' = never a duplicate)
-- ARGV[3]  source (key, handover, cli, journal)
-- ARGV[4]  retention TTL in seconds for the caller hash
-- ARGV[5..] suffix, value pairs ("t", "1763800000", "c", "abuse", ...)
-- Returns {incident id, 1 if created else 0}
local key, id, linkedid, source, ttl = KEYS[1], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
if linkedid ~= '' then
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    local f = all[i]
    if string.sub(f, -2) == '.l' and all[i + 1] == linkedid then
      local n = string.sub(f, 1, -3)
      if redis.call('HGET', key, n .. '.o') == source then
        return {redis.call('HGET', key, n .. '.i') or n, 0}
      end
    end
  end
end
local n = redis.call('HINCRBY', key, 'n', 1)
redis.call('HSET', key, n .. '.i', id)
for i = 5, #ARGV, 2 do
  redis.call('HSET', key, n .. '.' .. ARGV[i], ARGV[i + 1])
end
redis.call('EXPIRE', key, ttl)
return {id, 1}
