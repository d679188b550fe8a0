-- Record a debrief of one incident, keeping the one it replaces in the incident's history.
-- KEYS[1]  the caller hash
-- ARGV[1]  the incident's slot ("<n>" of its fields)
-- ARGV[2..] field/value pairs of the new debrief (records.debrief_hash)
-- The debrief in place ("<n>.d", ".dt", ".da", ".db"), if there is one, is appended to the JSON
-- list "<n>.dh" (oldest first, each {at, by, note, answer} as stored text) before it is replaced,
-- in one step, so two supervisors debriefing at once both end up in the history.
local slot = ARGV[1]
local cur = redis.call('HMGET', KEYS[1], slot .. '.dt', slot .. '.db', slot .. '.d', slot .. '.da')
if cur[1] then
  local raw = redis.call('HGET', KEYS[1], slot .. '.dh')
  local list = {}
  if raw then
    local ok, decoded = pcall(cjson.decode, raw)
    if ok and type(decoded) == 'table' then list = decoded end
  end
  list[#list + 1] = {at = cur[1], by = cur[2] or '', note = cur[3] or '', answer = cur[4] or ''}
  redis.call('HSET', KEYS[1], slot .. '.dh', cjson.encode(list))
end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
