-- Put keys built again in place of the live ones, all at once: for each pair, the built key is
-- RENAMEd over the live one, or the live one deleted when nothing was built (RENAME refuses a
-- missing key). Used by CallerNames.rebuild, so a search reads the old index or the new one,
-- never an empty or half-built one. Every key in one slot (the {names} hash tag), so on Cluster too.
-- KEYS[2k-1]  a built key
-- KEYS[2k]    the live key it replaces
for k = 1, #KEYS, 2 do
  if redis.call('EXISTS', KEYS[k]) == 1 then
    redis.call('RENAME', KEYS[k], KEYS[k + 1])
  else
    redis.call('DEL', KEYS[k + 1])
  end
end
return #KEYS / 2
