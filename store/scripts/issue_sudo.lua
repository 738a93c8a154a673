-- issue_sudo: trade a verification token for one of the user's currently
-- bound contacts, from a code the user sent there with target CUR_USER,
-- for a sudo token.
--
-- KEYS[1] the verification token's hash (vt:<sha256 of the token>)
-- KEYS[2] the user's profile
-- KEYS[3] the sudo token's key (st:<sha256 of the token>)
--
-- ARGV[1] user ID
-- ARGV[2] sudo token TTL, milliseconds
-- ARGV[3] the bound phone the caller read ('' for none), ARGV[4] its key
-- ARGV[5] the bound email the caller read ('' for none), ARGV[6] its key
-- ARGV[7] the codes of the sensitive fields ("pe", "p", ...): only a token
--         for a bound contact of one of them proves sudo (a contact that is
--         not sensitive changes with verification alone, so a stolen access
--         token can make it the thief's)
--
-- Replies:
--   {'ok'}             the verification token is spent, the sudo token stored
--   {'invalid'}        the token is unknown, expired, spent, another user's,
--                      from a code not sent with CUR_USER, for a contact the
--                      user does not have bound now, or for a channel that is
--                      not sensitive; it is left as it was
--   {'stale', profile} the bound phone or email is not what the caller read:
--                      nothing done; the stored profile ('' if none)

local t = redis.call('HMGET', KEYS[1], 'u', 'c', 'k', 'o')
-- Only a CUR_USER code: one sent with ANY or NOT_USER was counted in the
-- contact's shared budget, and sudo codes must stay within the owner's.
if t[1] ~= ARGV[1] or t[4] ~= '1' then
  return { 'invalid' }
end
local field = FIELD_OF[t[2]]
if not field or not string.find(ARGV[7], field, 1, true) then
  return { 'invalid' }
end
local stored = redis.call('GET', KEYS[2]) or ''
local p = decode_profile(stored)
if p[slot('p')] ~= ARGV[3] or p[slot('e')] ~= ARGV[5] then
  return { 'stale', stored }
end
local bound_key = field == 'p' and ARGV[4] or ARGV[6]
if bound_key == '' or bound_key ~= t[3] then
  return { 'invalid' }
end

redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2])
return { 'ok' }
