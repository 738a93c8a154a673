-- revocations_since: the revocation sequence and the log entries after a
-- given one, read together so the two agree.
--
-- KEYS[1] rs, the revocation sequence
-- KEYS[2] rx, the revocation log
-- KEYS[3] re, the log's epoch
--
-- ARGV[1] the first entry ID wanted (<seq>-0: the caller's last entry,
--         which it checks is still the one it applied)
-- ARGV[2] at most this many entries
--
-- Replies: {sequence, {{id, {field, value, ...}}, ...}, epoch or ''}

local seq = redis.call('GET', KEYS[1]) or '0'
local epoch = redis.call('GET', KEYS[3]) or ''
return { seq, redis.call('XRANGE', KEYS[2], ARGV[1], '+', 'COUNT', ARGV[2]), epoch }
