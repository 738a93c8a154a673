-- revoke: record one revocation and append it to the revocation log, so
-- that every Caddy instance sharing this Redis learns of it (see
-- store/revocation.go and docs/revocation.md).
--
-- KEYS[1] what is revoked: rt:<sha256 of the token>, ru:<user> or
--         rd:<user and device digest>
-- KEYS[2] rs, the revocation sequence
-- KEYS[3] rx, the revocation log (a stream whose IDs are <seq>-1)
-- KEYS[4] re, the log's epoch
-- KEYS[5] the environment's event stream (or an unused key)
-- KEYS[6] the caller's device revocations this day (rv:<user>), or an
--         unused key when ARGV[12] is 0
--
-- ARGV[1] kind: 't' token, 'u' user, 'd' device
-- ARGV[2] value: '1' for a token, the cutoff (Unix seconds) otherwise
-- ARGV[3] TTL of KEYS[1], milliseconds (> 0)
-- ARGV[4] log field a: the token digest, or the user ID
-- ARGV[5] log field b: the device ID, or ''
-- ARGV[6] approximate length the log is trimmed to
-- ARGV[7] the channel told of every new entry
-- ARGV[8] a token's end (Unix milliseconds) for its log entry, or ''
-- ARGV[9] random text: the log entry's nonce, and a new epoch's
-- ARGV[10] the event stream's approximate length: with events on (not
--         '0'), a revocation that revokes something new appends ARGV[11]
-- ARGV[11] its user.tokens_revoked event, JSON (store/revocation.go)
-- ARGV[12] revocations the caller may make per window, "0" for no limit
-- ARGV[13] that window, milliseconds
--
-- Replies: the entry's sequence number; the current one (maybe 0) when
-- nothing more was revoked; {'rate_limited', pttl} when the caller made
-- too many (nothing revoked).

-- The caller's limit first: every request that gets here counts, one
-- that revokes nothing new included.
local limit = tonumber(ARGV[12])
if limit > 0 and count(KEYS[6], ARGV[13]) > limit then
  return { 'rate_limited', retry_after(KEYS[6], ARGV[13]) }
end

local value = ARGV[2]
local ttl = tonumber(ARGV[3])

-- A cutoff only moves forward, and no key's life is shortened: a second
-- revocation never undoes part of the first. One that revokes nothing
-- more (the token already revoked, the cutoff already as late) only
-- extends the key's life and adds no log entry, so that repeating it
-- costs the instances nothing.
local old = redis.call('GET', KEYS[1])
local pttl = redis.call('PTTL', KEYS[1])
if pttl > ttl then
  ttl = pttl
end
if old and (ARGV[1] == 't' or (tonumber(old) or -1) >= tonumber(value)) then
  redis.call('PEXPIRE', KEYS[1], ttl)
  return tonumber(redis.call('GET', KEYS[2]) or '0')
end

-- Every command that can fail on a key's type reads before the first
-- write: Redis does not undo a script's writes when a later command fails.
-- The next sequence number is past both the counter and the log's last
-- entry: a counter lost alone (evicted, or restored from an older file)
-- must not make XADD fail after the key below is written, which would
-- leave a revocation no instance hears of.
local seq = (tonumber(redis.call('GET', KEYS[2]) or '0') or 0) + 1
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)[1]
if last then
  local last_seq = tonumber(string.match(last[1], '^(%d+)-'))
  if last_seq and last_seq >= seq then
    seq = last_seq + 1
  end
end
local new_epoch = redis.call('EXISTS', KEYS[4]) == 0

-- The event is the first write (lib.lua's append_event): if Redis refuses
-- it, nothing is revoked, and an error is answered.
if ARGV[10] ~= '0' then
  local id = append_event(KEYS[5], ARGV[10], ARGV[11])
  if type(id) == 'table' then
    return id
  end
end

-- A log entry carries a token's end instead of its stored value ('1'),
-- and a cutoff as stored. Its nonce n tells it from an entry of the same
-- number that Redis lost (a failover to a replica that missed it), which
-- a reader may have applied.
local logged = value
if ARGV[1] == 't' then
  logged = ARGV[8]
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], seq .. '-1',
  'k', ARGV[1], 'a', ARGV[4], 'b', ARGV[5], 'c', logged, 'n', ARGV[9])
redis.call('SET', KEYS[2], seq)
-- A log without an epoch is new (or Redis lost it with the log): its
-- numbers may be ones a reader already applied from the lost log, so it
-- gets an epoch no earlier log had, and readers that see the epoch change
-- forget what they knew.
if new_epoch then
  local now = redis.call('TIME')
  redis.call('SET', KEYS[4], now[1] .. '.' .. now[2] .. '-' .. ARGV[9])
end
redis.call('SET', KEYS[1], value, 'PX', ttl)
-- The message only hurries the other instances' next read of the log, so
-- a refusal (a Redis user without the channel: docs/configuration.md, "A
-- Redis ACL user") must not fail a revocation already made: they read it
-- at their next poll.
redis.pcall('PUBLISH', ARGV[7], seq)
return seq
