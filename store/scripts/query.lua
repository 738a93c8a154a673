-- query: the profile of whoever holds a value of a unique field, in one
-- round trip (user/query). An index entry names its owner, and the
-- owner's profile key is the environment's profile prefix and that name:
-- a key the caller cannot know in advance, so it is not in KEYS. It lies
-- under the same hash tag as KEYS[1], so in one cluster slot.
--
-- KEYS[1] the index bucket of the value's uniqueness key
--
-- ARGV[1] the uniqueness key (Go computes it: keys.go's uniqueKey)
-- ARGV[2] the profile key prefix, "<prefix>:{<env>}:p:"
--
-- Replies:
--   {'ok'}                   nobody holds it
--   {'ok', owner, profile}   the owner and their stored profile ('' if it
--                            is missing, which Audit would report)

local owner = redis.call('HGET', KEYS[1], ARGV[1])
if not owner then
  return { 'ok' }
end
return { 'ok', owner, redis.call('GET', ARGV[2] .. owner) or '' }
