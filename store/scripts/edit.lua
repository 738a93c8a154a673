-- edit: one atomic profile update. Every check runs before the first write
-- but the rate limit's count, so an edit either changes all its fields or
-- none. The script never computes a uniqueness key: Go does (keys.go's
-- uniqueKey), for the new values and for the current values the caller
-- read; the script checks that the stored values are still those and only
-- compares.
--
-- KEYS[1] the target's profile
-- KEYS[2] the actor's edit counter (the rate limit is per caller)
-- KEYS[3] the verification token's hash (or an unused key)
-- KEYS[4] the target's history (or an unused key when not recorded)
-- KEYS[5] the environment's event stream (or an unused key)
-- KEYS[6 ..] for each unique field (u, p, e) among the changes, in ARGV's
--         order, two buckets of its index: the new value's, then the current
--         value's (an unused key where a value is empty)
--
-- ARGV[1] target user ID
-- ARGV[2] now, Unix milliseconds
-- ARGV[3] "1": create the profile if it is missing
-- ARGV[4] rate limit: edits per window, "0" for none
-- ARGV[5] rate limit window, milliseconds
-- ARGV[6] "1": sudo is satisfied
-- ARGV[7] the fields that need sudo to replace or remove a bound value, as
--         their one-letter codes run together ("pe")
-- ARGV[8] the contacts whose change needs a verification token ("pe")
-- ARGV[9] "1": a verification token was given (its hash is KEYS[3])
-- ARGV[10] the history entry's tail, as lib.lua's record_change takes it
--         ('': the edit is not recorded: no history entry, no event)
-- ARGV[11] the event stream's approximate length ('0': no event)
-- ARGV[12] the event's JSON head (record_change)
-- ARGV[13 ..] each field changed, once, in one of two forms:
--         a field without an index (n a g d b z l): its code and the new value
--         ("" removes), 2 arguments;
--         a unique field (u p e): its code, the new display value ("" removes),
--         its uniqueness key ("" for ""), the current display value the
--         caller read and that value's uniqueness key, 5 arguments.
--         Only the fields given are sent: every argument costs Redis a
--         string and Lua a value.
--
-- Replies:
--   {'ok', created (0/1), changed field codes...}
--   {'stale', profile}             a unique field's value is not what the caller read: nothing done;
--                                  the stored profile ('' if none), to run again from
--   {'rate_limited', pttl}         too many edits; retry after pttl ms
--   {'user_not_found'}
--   {'sudo_required'}
--   {'verification_required'}
--   {'invalid_verification_token'}
--   {'conflict', field code}       the value belongs to another user

-- EDITABLE are the codes an edit may change, UNIQUE the indexed ones
-- (strings, not sets: a table built on every run costs more than a find).
local EDITABLE = 'nupeagdbzl'
local UNIQUE = 'upe'

local profile = KEYS[1]
local user = ARGV[1]
local now = ARGV[2]

local stored = redis.call('GET', profile)
local p = decode_profile(stored or '')
-- Each change is one table, built whole by one constructor: the field's
-- code and slot, its new value, its current one (cur), its key, the
-- current value the caller read (read), that value's key (old: '' for
-- none), whether the edit binds another key than old (moves: not just a
-- new spelling), and for a unique field the KEYS position of the new
-- value's bucket (the current one's follows).
local changes, seen = {}, ''
local bucket = 6
local at = 13
while at <= #ARGV do
  local code = ARGV[at]
  if #code ~= 1 or not string.find(EDITABLE, code, 1, true) or string.find(seen, code, 1, true) then
    return redis.error_reply('edit: bad or repeated field code ' .. code)
  end
  seen = seen .. code
  local new, field_slot = ARGV[at + 1], slot(code)
  local cur = p[field_slot]
  if string.find(UNIQUE, code, 1, true) then
    if at + 4 > #ARGV then
      return redis.error_reply('edit: a unique field needs five arguments')
    end
    local read = ARGV[at + 3]
    -- old is valid once cur is known to be read.
    local old = read ~= '' and ARGV[at + 4] or ''
    changes[#changes + 1] = { code = code, slot = field_slot, new = new, cur = cur, key = ARGV[at + 2], read = read,
      old = old, moves = ARGV[at + 2] ~= old, bucket = bucket }
    bucket = bucket + 2
    at = at + 5
  else
    if at + 1 > #ARGV then
      return redis.error_reply('edit: a field needs its new value')
    end
    -- A field without an index is its own key.
    changes[#changes + 1] = { code = code, slot = field_slot, new = new, cur = cur, key = new, old = cur, moves = new ~= cur }
    at = at + 2
  end
end
if #KEYS ~= bucket - 1 then
  return redis.error_reply('edit: two index buckets are needed per unique field')
end

-- The index buckets in KEYS were chosen from what the caller read; if a
-- unique value moved since, they may be the wrong ones.
for _, c in ipairs(changes) do
  if c.bucket and c.cur ~= c.read then
    return { 'stale', stored or '' }
  end
end

-- (a) Rate limit: a fixed window from the first edit in it. Every edit
-- that gets here counts, refused ones included.
local limit = tonumber(ARGV[4])
if limit > 0 then
  if count(KEYS[2], ARGV[5]) > limit then
    return { 'rate_limited', retry_after(KEYS[2], ARGV[5]) }
  end
end

-- (b) The target exists, or is created by this edit.
local create = false
if not stored then
  if ARGV[3] ~= '1' then
    return { 'user_not_found' }
  end
  create = true
end

-- (c) Sudo: replacing a bound sensitive value with another one (by key),
-- or removing it. And binding a first phone or email while the other
-- contact is bound and sensitive: sudo accepts a code sent to any bound
-- contact, so a contact added without sudo would be a way around it (a
-- stolen access token binds the thief's email, then passes sudo with it).
-- p holds the stored values, which are what the caller read (checked
-- above for the unique fields).
if ARGV[6] ~= '1' then
  for _, c in ipairs(changes) do
    if string.find(ARGV[7], c.code, 1, true) and c.old ~= '' and c.moves then
      return { 'sudo_required' }
    end
    local other = OTHER_CONTACT[c.code]
    if other and c.cur == '' and c.new ~= '' and p[slot(other)] ~= '' and string.find(ARGV[7], other, 1, true) then
      return { 'sudo_required' }
    end
  end
end

-- (d) Verification: a new non-empty contact needs a token bound to this
-- user, this channel and this exact key. One token proves one contact.
local token_used = false
for _, c in ipairs(changes) do
  if string.find(ARGV[8], c.code, 1, true) and c.new ~= '' and c.moves then
    if ARGV[9] ~= '1' then
      return { 'verification_required' }
    end
    local t = redis.call('HMGET', KEYS[3], 'u', 'c', 'k')
    if token_used or t[1] ~= user or t[2] ~= CHANNEL[c.code] or t[3] ~= c.key then
      return { 'invalid_verification_token' }
    end
    token_used = true
  end
end

-- (e) Uniqueness: an index entry names the user who owns the value. No
-- entry: free; anyone else's: a conflict; the target's own: not a conflict
-- (a leftover this edit takes back). A new spelling of the current value
-- does not move, so it is no conflict; its bucket is still read, as is
-- the bucket of a value this edit releases (c.old_owner, which the write
-- below needs): every bucket the writes touch is read here, so a key of
-- the wrong type fails the script before its first write (Redis does not
-- undo a script's writes when a later command fails).
for _, c in ipairs(changes) do
  if c.bucket then
    if c.new ~= '' then
      local owner = redis.call('HGET', KEYS[c.bucket], c.key)
      if c.moves and owner and owner ~= user then
        return { 'conflict', c.code }
      end
    end
    if c.old ~= '' and c.moves then
      c.old_owner = redis.call('HGET', KEYS[c.bucket + 1], c.old)
    end
  end
end

-- (f) Write: release the old index entries (only the target's own: an
-- entry that names someone else is never this edit's to drop), claim the
-- new ones, set the fields, spend the token. First the change's history
-- entry and event (lib.lua's record_change): if either cannot be written
-- (a key of the wrong type), the edit fails with nothing written.
local changed = 0
for _, c in ipairs(changes) do
  if c.new ~= c.cur then
    changed = changed + 1
  end
end
-- stamp: the change's time, after the profile's last change (its m), so
-- that every change of a user has a time of its own, which names its
-- history entry. Only concurrent edits within a millisecond, or a clock
-- that steps back, move it past now.
local stamp = now
if changed > 0 then
  local last = tonumber(p[slot('m')])
  if last and last >= tonumber(now) then
    stamp = string.format('%d', last + 1)
  end
end
local recorded = record_change(KEYS[4], KEYS[5], ARGV[10], ARGV[11], ARGV[12], stamp, changes)
if type(recorded) == 'table' then
  return recorded
end
local reply = { 'ok', create and 1 or 0 }
for _, c in ipairs(changes) do
  if c.bucket then
    if c.old_owner == user then
      redis.call('HDEL', KEYS[c.bucket + 1], c.old)
    end
    if c.new ~= '' then
      redis.call('HSET', KEYS[c.bucket], c.key, user)
    end
  end
  p[c.slot] = c.new
  if c.new ~= c.cur then
    reply[#reply + 1] = c.code
  end
end
if create then
  p[slot('c')] = now
end
if create or changed > 0 then
  p[slot('m')] = stamp
  redis.call('SET', profile, encode_profile(p))
end
if token_used then
  redis.call('DEL', KEYS[3])
end
return reply
