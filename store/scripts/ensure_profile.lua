-- ensure_profile: create an empty profile unless one exists, then return it.
--
-- KEYS[1] the profile
-- ARGV[1] now, Unix milliseconds: created_at and updated_at of a new profile
--
-- Reply: the profile string.

local profile = redis.call('GET', KEYS[1])
if not profile then
  profile = ARGV[1] .. SEP .. ARGV[1]
  redis.call('SET', KEYS[1], profile)
end
return profile
