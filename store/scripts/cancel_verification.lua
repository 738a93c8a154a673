-- cancel_verification: undo start_verification after a failed delivery:
-- the code is forgotten and the send no longer counts.
--
-- KEYS[1] the verification hash (v:<id>)
-- KEYS[2] the contact's last-send marker (vs:<contact>)
-- KEYS[3] the contact's daily send counter (vd:<contact>)
--
-- ARGV[1] verification ID
-- ARGV[2] user ID
-- ARGV[3] channel
-- ARGV[4] the contact's uniqueness key
--
-- Reply: {'ok', undone (0/1)}; 0 when there was nothing of this
-- verification left to undo, so a repeated cancel un-counts nothing.

local v = redis.call('HMGET', KEYS[1], 'u', 'c', 'k')
if v[1] ~= ARGV[2] or v[2] ~= ARGV[3] or v[3] ~= ARGV[4] then
  return { 'ok', 0 }
end
redis.call('DEL', KEYS[1])
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
end
local sent = tonumber(redis.call('GET', KEYS[3]) or '0')
if sent <= 1 then
  redis.call('DEL', KEYS[3])
else
  redis.call('DECR', KEYS[3])
end
return { 'ok', 1 }
