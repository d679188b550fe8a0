-- A TOTP code was right for time step ARGV[1]: take the step, unless it (or a later one) was used
-- already, so a code is never accepted twice (redis_schema/second_factor.py).
-- KEYS[1]: the user's second factor hash (field "step": the last step used).
-- Returns 1 when the step was taken, 0 when it was used already or there is no second factor.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local last = tonumber(redis.call('HGET', KEYS[1], 'step') or '-1')
if tonumber(ARGV[1]) <= last then return 0 end
redis.call('HSET', KEYS[1], 'step', ARGV[1])
return 1
