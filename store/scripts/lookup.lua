-- lookup: who holds a value of a unique field? Counted per client IP
-- (checkIfUserExist, which needs no token, and checkUsername would
-- otherwise let anyone enumerate the index), the count and the lookup in
-- one round trip.
--
-- KEYS[1] the client IP's lookup counter (or an unused key: no limit)
-- KEYS[2] the index bucket of the value's uniqueness key
--
-- ARGV[1] the uniqueness key (Go computes it: keys.go's uniqueKey)
-- ARGV[2] lookups per window, "0" for none
-- ARGV[3] the window, milliseconds
--
-- Replies:
--   {'ok', owner}           the holder's user ID, '' if nobody holds it
--   {'rate_limited', pttl}  too many lookups; retry after pttl ms

local limit = tonumber(ARGV[2])
if limit > 0 then
  if count(KEYS[1], ARGV[3]) > limit then
    return { 'rate_limited', retry_after(KEYS[1], ARGV[3]) }
  end
end
return { 'ok', redis.call('HGET', KEYS[2], ARGV[1]) or '' }
