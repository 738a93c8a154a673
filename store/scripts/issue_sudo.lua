-- issue_sudo: trade a verification token for one of the user's currently
-- bound contacts for a sudo token.
--
-- KEYS[1] the verification token's hash (vt:<sha256 of the token>)
-- KEYS[2] the user's profile
-- KEYS[3] the sudo token's key (st:<sha256 of the token>)
--
-- ARGV[1] user ID
-- ARGV[2] sudo token TTL, milliseconds
--
-- Replies:
--   {'ok'}        the verification token is spent, the sudo token stored
--   {'invalid'}   the token is unknown, expired, spent, another user's, or
--                 for a contact the user does not have bound now; it is
--                 left as it was

local t = redis.call('HMGET', KEYS[1], 'u', 'c', 'k')
if t[1] ~= ARGV[1] then
  return { 'invalid' }
end
local field = FIELD_OF[t[2]]
if not field then
  return { 'invalid' }
end
local bound = decode_profile(redis.call('GET', KEYS[2]) or '')[field]
if bound == '' or key_of(field, bound) ~= t[3] then
  return { 'invalid' }
end

redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2])
return { 'ok' }
