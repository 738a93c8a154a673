-- cancel_verification: forget a verification code whose delivery failed,
-- and un-count its send when the receiver certainly did not get it.
--
-- KEYS[1] the verification hash (v:<id>)
-- KEYS[2] the contact's last-send marker (vs:<contact>, or vso: for CUR_USER)
-- KEYS[3] the contact's daily send counter (vd:<contact>, or vdo: for CUR_USER)
-- KEYS[4] the requester's sends in the last minute (cm:<user>, a sliding window)
-- KEYS[5] the requester's sends in the last day (cd:<user>, a sliding window)
-- KEYS[6] the client IP's lookup counter the send counted in (lk:<ip>), or
--         an unused key
--
-- ARGV[1] verification ID
-- ARGV[2] user ID
-- ARGV[3] channel
-- ARGV[4] the contact's uniqueness key
-- ARGV[5] "1": un-count the send (nothing was sent: Redis's answer was
--         unconfirmed); "2": a delivery that certainly failed, un-counted
--         but for its place in the requester's minute (KEYS[4]), so that
--         a receiver that refuses deliveries gets no more attempts a minute
--         from one requester than sends; "0": the receiver may have sent
--         the code (an unknown outcome), so the send keeps counting and
--         only the code is forgotten
-- ARGV[6] "1": the send counted in KEYS[6] (start_verification's ARGV[19]
--         was not "0"), so un-counting takes that back too
--
-- Reply: {'ok', undone (0/1)}; 0 when there was nothing of this
-- verification left to undo, so a repeated cancel un-counts nothing.

local v = redis.call('HMGET', KEYS[1], 'u', 'c', 'k')
if v[1] ~= ARGV[2] or v[2] ~= ARGV[3] or v[3] ~= ARGV[4] then
  return { 'ok', 0 }
end
redis.call('DEL', KEYS[1])
if ARGV[5] ~= '1' and ARGV[5] ~= '2' then
  return { 'ok', 1 }
end

if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
end
-- uncount takes back one count, leaving no counter at zero.
local function uncount(key)
  local n = tonumber(redis.call('GET', key) or '0')
  if n <= 1 then
    redis.call('DEL', key)
  else
    redis.call('DECR', key)
  end
end
uncount(KEYS[3])
if ARGV[6] == '1' then
  uncount(KEYS[6])
end
-- The requester's windows hold this send's own entry: removing it frees
-- exactly its slot, never one in a later window.
if ARGV[5] == '1' then
  redis.call('ZREM', KEYS[4], ARGV[1])
end
redis.call('ZREM', KEYS[5], ARGV[1])
return { 'ok', 1 }
