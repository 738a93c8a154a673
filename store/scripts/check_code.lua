-- check_code: trade a verification code for a verification token.
--
-- KEYS[1] the verification hash (v:<id>)
-- KEYS[2] the verification token's hash (vt:<sha256 of the token>)
-- KEYS[3] the client IP's wrong codes this hour (vf:<ip>), or the filler
--         key when the IP is unknown (ARGV[4] is then 0)
--
-- ARGV[1] hex SHA-256 of "<id>:<candidate code>"; '' from an instance with
--         a code key, which sends it only when asked (reply 'unkeyed')
-- ARGV[2] token TTL, milliseconds
-- ARGV[3] wrong codes that kill the verification
-- ARGV[4] wrong codes one client IP may make per window; 0: no IP limit
-- ARGV[5] that window, milliseconds
-- ARGV[6] hex SHA-256 of "<id>:<candidate code sealed under the code key>",
--         or '' without a code key
--
-- Replies:
--   {'rate_limited', pttl}  this IP made too many wrong codes: refused,
--                 right code or not, for pttl ms; nothing else changes
--   {'ok'}        the code was right: the verification is gone and the
--                 token is bound to its user, channel and key, and says
--                 whether the code was a CUR_USER one ('o')
--   {'unkeyed'}   the verification holds an unkeyed digest ('h') and
--                 ARGV[1] is '': nothing done; run again with it
--   {'invalid'}   unknown, expired or killed verification (not counted:
--                 no code can be right for it, so trying one gains
--                 nothing, and counting it would let anyone shut an IP
--                 out with made-up IDs), or a wrong code (counted,
--                 against the verification and the IP; the last allowed
--                 wrong code deletes the verification)

local ip_limit = tonumber(ARGV[4])
if ip_limit > 0 and tonumber(redis.call('GET', KEYS[3]) or '0') >= ip_limit then
  return { 'rate_limited', retry_after(KEYS[3], ARGV[5]) }
end
local v = redis.call('HMGET', KEYS[1], 'hk', 'h', 'u', 'c', 'k', 'o')
-- The field that holds the digest says how it was made (docs/storage.md,
-- Upgrades): 'hk' under the code key, 'h' unkeyed, as versions before
-- code keys kept it. An 'hk' this instance holds no key for cannot be
-- judged: answered as unknown, and not counted.
local stored, candidate
if v[1] and ARGV[6] ~= '' then
  stored, candidate = v[1], ARGV[6]
elseif v[2] then
  -- An instance with a code key sends the unkeyed digest only for such
  -- a verification: elsewhere it would show a reader of the commands
  -- (MONITOR) what the key hides, should the code outlive its check.
  if ARGV[1] == '' then
    return { 'unkeyed' }
  end
  stored, candidate = v[2], ARGV[1]
else
  return { 'invalid' }
end

-- Compare every byte, whatever the first difference: the time taken says
-- nothing about how much of the digest matched.
local diff = 0
if #stored ~= #candidate then
  diff = 1
end
for i = 1, #stored do
  diff = bit.bor(diff, bit.bxor(string.byte(stored, i), string.byte(candidate, i) or 0))
end
if diff ~= 0 then
  if redis.call('HINCRBY', KEYS[1], 't', 1) >= tonumber(ARGV[3]) then
    redis.call('DEL', KEYS[1])
  end
  -- A wrong code of a live verification is a guess: it counts against
  -- the IP.
  if ip_limit > 0 then
    count(KEYS[3], ARGV[5])
  end
  return { 'invalid' }
end

-- The token first: its HSET is the one write here that can fail (a key
-- of the wrong type), and Redis does not undo the writes before a failing
-- command, so the code is spent only once the token exists.
-- A verification stored before 'o' existed is no CUR_USER one.
redis.call('HSET', KEYS[2], 'u', v[3], 'c', v[4], 'k', v[5], 'o', v[6] or '0')
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[1])
return { 'ok' }
