-- start_verification: record a verification code about to be sent, within
-- the per-contact send limits.
--
-- KEYS[1] the verification hash (v:<id>)
-- KEYS[2] the contact's last-send marker (vs:<contact>, or vso: for CUR_USER)
-- KEYS[3] the contact's daily send counter (vd:<contact>, or vdo: for CUR_USER)
-- KEYS[4] the index bucket that would hold the contact's key
-- KEYS[5] the requester's profile
-- KEYS[6] the requester's sends this minute (sm:<user>)
-- KEYS[7] the requester's sends today (sd:<user>)
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
-- ARGV[13] sends one requester may ask for per minute
-- ARGV[14] a minute, milliseconds
-- ARGV[15] sends one requester may ask for per day
--
-- Replies:
--   {'ok', is_user (0/1)}    recorded and counted; is_user: bound to some user
--   {'conflict'}             bound to another user and ARGV[9] is "1"; nothing counted
--   {'rate_limited', pttl}   too many sends to this contact or by this requester;
--                            retry after pttl ms; nothing counted
--   {'exists'}               the verification ID is taken

-- Bound to someone: indexed. To someone else: not the requester's own
-- current value on this channel.
local bound = redis.call('HEXISTS', KEYS[4], ARGV[4]) == 1
if bound and ARGV[9] == '1' then
  local mine = decode_profile(redis.call('GET', KEYS[5]) or '')
  local field = FIELD_OF[ARGV[3]]
  if mine[field] == '' or key_of(field, mine[field]) ~= ARGV[4] then
    return { 'conflict' }
  end
end

local wait = redis.call('PTTL', KEYS[2])
if wait > 0 then
  return { 'rate_limited', wait }
end
local sent = tonumber(redis.call('GET', KEYS[3]) or '0')
if sent >= tonumber(ARGV[11]) then
  return { 'rate_limited', retry_after(KEYS[3], ARGV[12]) }
end

-- The requester's own limits, over every contact and target.
local asked = redis.call('MGET', KEYS[6], KEYS[7])
if tonumber(asked[1] or '0') >= tonumber(ARGV[13]) then
  return { 'rate_limited', retry_after(KEYS[6], ARGV[14]) }
end
if tonumber(asked[2] or '0') >= tonumber(ARGV[15]) then
  return { 'rate_limited', retry_after(KEYS[7], ARGV[12]) }
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  return { 'exists' }
end

redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[10])
count(KEYS[3], ARGV[12])
count(KEYS[6], ARGV[14])
count(KEYS[7], ARGV[12])
redis.call('HSET', KEYS[1], 'h', ARGV[7], 'u', ARGV[2], 'c', ARGV[3], 'k', ARGV[4],
  'd', ARGV[5], 's', ARGV[6], 't', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[8])
return { 'ok', bound and 1 or 0 }
