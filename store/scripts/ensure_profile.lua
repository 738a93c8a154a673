-- ensure_profile: create an empty profile unless one exists, then return it.
--
-- KEYS[1] the profile hash
-- ARGV[1] now, Unix milliseconds: created_at and updated_at of a new profile
--
-- Reply: the profile as HGETALL's flat field/value list.

if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'c', ARGV[1], 'm', ARGV[1])
end
return redis.call('HGETALL', KEYS[1])
