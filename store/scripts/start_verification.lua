-- start_verification: record a verification code about to be sent, within
-- the per-contact send limits.
--
-- KEYS[1] the verification hash (v:<id>)
-- KEYS[2] the contact's last-send marker (vs:<contact>)
-- KEYS[3] the contact's daily send counter (vd:<contact>)
-- KEYS[4] the index bucket that would hold the contact's key
-- KEYS[5] the requester's profile (not read: the index names the owner)
--
-- ARGV[1] verification ID
-- ARGV[2] user ID of the requester
-- ARGV[3] channel: "phone" or "email"
-- ARGV[4] the contact's uniqueness key
-- ARGV[5] the contact's display form
-- ARGV[6] usage, as the client gave it
-- ARGV[7] hex SHA-256 of "<id>:<code>"
-- ARGV[8] code TTL, milliseconds
-- ARGV[9] "1": refuse a contact bound to another user (NOT_USER)
-- ARGV[10] minimum interval between sends to one contact, milliseconds
-- ARGV[11] sends to one contact per day
-- ARGV[12] a day, milliseconds
--
-- Replies:
--   {'ok', is_user (0/1)}    recorded and counted; is_user: bound to some user
--   {'conflict'}             bound to another user and ARGV[9] is "1"; nothing counted
--   {'rate_limited', pttl}   too many sends to this contact; retry after pttl ms
--   {'exists'}               the verification ID is taken

-- Bound to someone: indexed. The entry names its owner: to someone else,
-- another user than the requester.
local owner = redis.call('HGET', KEYS[4], ARGV[4])
local bound = owner ~= false
if bound and ARGV[9] == '1' and owner ~= ARGV[2] then
  return { 'conflict' }
end

local wait = redis.call('PTTL', KEYS[2])
if wait > 0 then
  return { 'rate_limited', wait }
end
local sent = tonumber(redis.call('GET', KEYS[3]) or '0')
if sent >= tonumber(ARGV[11]) then
  return { 'rate_limited', retry_after(KEYS[3], ARGV[12]) }
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  return { 'exists' }
end

redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[10])
count(KEYS[3], ARGV[12])
redis.call('HSET', KEYS[1], 'h', ARGV[7], 'u', ARGV[2], 'c', ARGV[3], 'k', ARGV[4],
  'd', ARGV[5], 's', ARGV[6], 't', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[8])
return { 'ok', bound and 1 or 0 }
