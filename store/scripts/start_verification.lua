-- start_verification: record a verification code about to be sent, within
-- the requester's and the contact's send limits.
--
-- KEYS[1] the verification hash (v:<id>)
-- KEYS[2] the contact's last-send marker (vs:<contact>, or vso: for CUR_USER)
-- KEYS[3] the contact's daily send counter (vd:<contact>, or vdo: for CUR_USER)
-- KEYS[4] the index bucket that would hold the contact's key
-- KEYS[5] the requester's sends in the last minute (cm:<user>, a sliding window)
-- KEYS[6] the requester's sends in the last day (cd:<user>, a sliding window)
-- KEYS[7] the client IP's lookup counter (lk:<ip>, lookup.lua's), or an
--         unused key: no IP limit (a CUR_USER send, or no IP or limit)
--
-- ARGV[1] verification ID
-- ARGV[2] user ID of the requester
-- ARGV[3] channel: "phone" or "email"
-- ARGV[4] the contact's uniqueness key
-- ARGV[5] the contact's display form
-- ARGV[6] usage, as the client gave it
-- ARGV[7] hex SHA-256 of "<id>:<code>", the code sealed if ARGV[18] says so
-- ARGV[8] code TTL, milliseconds
-- ARGV[9] "1": refuse a contact bound to another user (NOT_USER)
-- ARGV[10] minimum interval between sends to one contact, milliseconds
-- ARGV[11] sends to one contact per day
-- ARGV[12] a day, milliseconds
-- ARGV[13] sends one requester may ask for per minute
-- ARGV[14] a minute, milliseconds
-- ARGV[15] sends one requester may ask for per day
-- ARGV[16] now, Unix milliseconds
-- ARGV[17] "1": a CUR_USER send by the contact's owner, the only kind whose
--          code buys a sudo token (kept as 'o', passed on to the token)
-- ARGV[18] the field that keeps ARGV[7]: 'hk' for a code sealed under the
--          code key, 'h' for one that is not (docs/storage.md, Upgrades)
-- ARGV[19] lookups per window of KEYS[7], "0" for none
-- ARGV[20] that window, milliseconds
--
-- Replies:
--   {'ok', is_user (0/1)}    recorded and counted; is_user: bound to some user
--   {'conflict'}             bound to another user and ARGV[9] is "1"; counted
--                            against the requester's limits and the client
--                            IP's lookups only
--   {'rate_limited', pttl}   too many sends to this contact or by this
--                            requester, or too many lookups from the client
--                            IP; retry after pttl ms; nothing counted
--   {'exists'}               the verification ID is taken
--   {'not_bound'}            ARGV[17] is "1" but the contact is not bound to
--                            the requester (any more): nothing counted
--
-- The requester's limits come first, and a refused NOT_USER counts against
-- them: its answer tells whether a contact is registered, so probing for
-- registered numbers costs what sending codes does. The client IP's
-- lookups (checkIfUserExist's budget) come next, before any answer that
-- tells it (a conflict, or is_user), and both those answers count there:
-- otherwise many throwaway accounts behind one IP would each probe at a
-- caller's rate. KEYS[7] stays lookup.lua's fixed-window string counter,
-- which older instances count too (docs/storage.md, Upgrades).

local now = ARGV[16]

-- The requester's own limits, over every contact and target.
local minute_n = window_count(KEYS[5], now, ARGV[14])
if minute_n >= tonumber(ARGV[13]) then
  return { 'rate_limited', window_retry_after(KEYS[5], minute_n, tonumber(ARGV[13]), now, ARGV[14]) }
end
local day_n = window_count(KEYS[6], now, ARGV[12])
if day_n >= tonumber(ARGV[15]) then
  return { 'rate_limited', window_retry_after(KEYS[6], day_n, tonumber(ARGV[15]), now, ARGV[12]) }
end

-- The client IP's lookups, checked here and counted only with an answer
-- that tells whether the contact is registered.
local lookups = tonumber(ARGV[19])
if lookups > 0 then
  if tonumber(redis.call('GET', KEYS[7]) or '0') >= lookups then
    return { 'rate_limited', retry_after(KEYS[7], ARGV[20]) }
  end
end

-- Bound to someone: indexed. The entry names its owner: to someone else,
-- another user than the requester.
local owner = redis.call('HGET', KEYS[4], ARGV[4])
local bound = owner ~= false

-- A CUR_USER send goes to the contact the requester's profile held when
-- the handler read it; if it has moved since (given up, or bound by
-- someone else), it is answered as if it had not been bound then, before
-- anything is counted: the owner's budget of a contact is its owner's
-- alone.
if ARGV[17] == '1' and owner ~= ARGV[2] then
  return { 'not_bound' }
end

if bound and ARGV[9] == '1' and owner ~= ARGV[2] then
  if lookups > 0 then
    count(KEYS[7], ARGV[20])
  end
  window_add(KEYS[5], ARGV[1], now, ARGV[14])
  window_add(KEYS[6], ARGV[1], now, ARGV[12])
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

-- The counters first: counting is the one write here that can fail (a
-- counter that holds no integer fails its INCR), and Redis does not undo
-- the writes before a failing command.
if lookups > 0 then
  count(KEYS[7], ARGV[20])
end
count(KEYS[3], ARGV[12])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[10])
window_add(KEYS[5], ARGV[1], now, ARGV[14])
window_add(KEYS[6], ARGV[1], now, ARGV[12])
redis.call('HSET', KEYS[1], ARGV[18], ARGV[7], 'u', ARGV[2], 'c', ARGV[3], 'k', ARGV[4],
  'd', ARGV[5], 's', ARGV[6], 't', 0, 'o', ARGV[17])
redis.call('PEXPIRE', KEYS[1], ARGV[8])
return { 'ok', bound and 1 or 0 }
