-- Add one incident to a caller's hash, at most once: an incident is already there when a
-- stored one has the same id (a retry or a replay of this very incident), or the same
-- (linkedid, source) (the same key press on the same call, under another id).
-- Fields of an incident are "<n>.<suffix>", n a short per-caller index (field "n" counts),
-- so the 16-character incident id is stored once ("<n>.i"), not in every field name.
-- The logbook index (gw:incidents, gw:incident-owner) lives in other slots, so Store writes it
-- right after this script with idempotent commands, for a new incident and a found one alike.
-- KEYS[1]  caller hash
-- KEYS[2]  (optional; not on a Cluster, where it is another slot) the statistics hash of the
--          incident's day: a new incident's category ("c:<category>") and agent ("a:<agent>")
--          are counted in this same atomic write
-- KEYS[3]  (with KEYS[2]) the agents' counts of the incident's month ("a:<agent>")
-- ARGV[1]  incident id
-- ARGV[2]  linkedid used for de-duplication ('' = only the id de-duplicates)
-- ARGV[3]  source (key, handover, cli)
-- ARGV[4]  retention TTL in seconds for the caller hash (a longer TTL, a ban's, is kept)
-- ARGV[5..] suffix, value pairs ("t", "1763800000", "c", "abuse", ...)
-- Returns {stored incident id, its time, 1 if created by this call else 0, its debrief time or '',
--          then the time of every incident in the hash (for the repeat callers' ranks)}
local key, id, linkedid, source, ttl = KEYS[1], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local all = redis.call('HGETALL', key)
local fields = {}
for i = 1, #all, 2 do
  fields[all[i]] = all[i + 1]
end
local function with_times(reply)
  for f, _ in pairs(fields) do
    if string.sub(f, -2) == '.i' then reply[#reply + 1] = fields[string.sub(f, 1, -3) .. '.t'] or '0' end
  end
  return reply
end
for f, v in pairs(fields) do
  if string.sub(f, -2) == '.i' then
    local n = string.sub(f, 1, -3)
    if v == id or (linkedid ~= '' and fields[n .. '.l'] == linkedid and fields[n .. '.o'] == source) then
      return with_times({v, fields[n .. '.t'] or '0', 0, fields[n .. '.dt'] or ''})
    end
  end
end
local n = redis.call('HINCRBY', key, 'n', 1)
local at, category, agent = '0', '', ''
redis.call('HSET', key, n .. '.i', id)
for i = 5, #ARGV, 2 do
  redis.call('HSET', key, n .. '.' .. ARGV[i], ARGV[i + 1])
  if ARGV[i] == 't' then at = ARGV[i + 1] end
  if ARGV[i] == 'c' then category = ARGV[i + 1] end
  if ARGV[i] == 'a' then agent = ARGV[i + 1] end
end
if KEYS[2] then
  redis.call('HINCRBY', KEYS[2], 'c:' .. category, 1)
  if agent ~= '' then
    redis.call('HINCRBY', KEYS[2], 'a:' .. agent, 1)
    redis.call('HINCRBY', KEYS[3], 'a:' .. agent, 1)
  end
end
-- The retention from now, never shortened: a ban ending later keeps the caller until its end.
redis.call('EXPIRE', key, ttl, 'NX')
redis.call('EXPIRE', key, ttl, 'GT')
return with_times({id, at, 1, '', at})
