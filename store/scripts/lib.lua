-- lib.lua is put in front of every script (see scripts.go): how counters
-- and profiles are stored, defined once. No script computes a uniqueness
-- key (that would need IDNA for emails): Go computes every key
-- (keys.go's uniqueKey) and the scripts compare.

-- count adds one to a counter of a fixed window of window_ms that starts
-- with its first count, and returns the new count. Most counts open a
-- window (few callers act twice a minute), so the first is one command,
-- SET NX with the expiry; later ones are that SET refused, then INCR.
--
-- Arguments to redis.call are strings here: a Lua number is formatted
-- with sprintf on every call (about 2,000 instructions each,
-- docs/DECISIONS.md "Counted in instructions, not time").
local function count(key, window_ms)
  if redis.call('SET', key, '1', 'PX', window_ms, 'NX') then
    return 1
  end
  return redis.call('INCR', key)
end

-- retry_after is how long until a full counter's window ends, in ms. A
-- counter found without an expiry would lock its owner out for good, so it
-- is given a whole window again.
local function retry_after(key, window_ms)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, window_ms)
    ttl = tonumber(window_ms)
  end
  return ttl
end

-- Sliding windows, for limits that must hold over any span of their
-- length (a fixed window lets a burst at its end meet one at the start of
-- the next): a sorted set of the counted events' IDs scored by their time,
-- Unix ms. An entry is in the window while it is younger than window_ms.

-- window_count drops the entries that left the window and returns how many
-- are in it.
local function window_count(key, now, window_ms)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', tonumber(now) - tonumber(window_ms))
  return redis.call('ZCARD', key)
end

-- window_retry_after is how long, in ms, until a window holding n >= limit
-- entries has room for one more: until its (n - limit + 1)th oldest entry
-- leaves it.
local function window_retry_after(key, n, limit, now, window_ms)
  local e = redis.call('ZRANGE', key, n - limit, n - limit, 'WITHSCORES')
  local wait = tonumber(e[2]) + tonumber(window_ms) - tonumber(now)
  if wait < 1 then
    wait = 1
  end
  return wait
end

-- window_add counts event id at now. The key expires when its newest entry
-- leaves the window, so an idle caller leaves no key behind.
local function window_add(key, id, now, window_ms)
  redis.call('ZADD', key, now, id)
  redis.call('PEXPIRE', key, window_ms)
end

-- CHANNEL names the contact fields as verification tokens record them.
local CHANNEL = { p = 'phone', e = 'email' }
-- FIELD_OF is CHANNEL the other way: a channel's field code.
local FIELD_OF = { phone = 'p', email = 'e' }
-- OTHER_CONTACT is, for each contact field, the other one.
local OTHER_CONTACT = { p = 'e', e = 'p' }

-- A profile is one string: the values of the fields in LAYOUT's order
-- (keys.go's profileLayout), joined by SEP, trailing empty values left
-- out. A script holds it as an array, the value of field f at
-- slot(f); values past LAYOUT, from a newer layout, at PROFILE_REST, so
-- that encode_profile writes them back. An array, not a table by field
-- name: Lua builds a table of twelve named fields slower than Redis runs
-- the script's commands (docs/DECISIONS.md, "Scripts join, Go prepares").
local SEP = '\31'
local LAYOUT = 'cmnupeagdbzl'
local PROFILE_REST = #LAYOUT + 1

-- slot is field code f's position in a decoded profile (f one letter).
local function slot(f)
  return string.find(LAYOUT, f, 1, true)
end

-- PROFILE_PATTERN splits a profile in one match: each field's value, then
-- the separator after the last field ('' if none) and whatever follows.
local PROFILE_PATTERN = '^([^\31]*)\31?([^\31]*)\31?([^\31]*)\31?([^\31]*)\31?([^\31]*)\31?([^\31]*)\31?([^\31]*)\31?([^\31]*)\31?([^\31]*)\31?([^\31]*)\31?([^\31]*)\31?([^\31]*)(\31?)(.*)$'

-- decode_profile reads a profile string ('' for none) into an array.
local function decode_profile(s)
  local p = { string.match(s, PROFILE_PATTERN) }
  if p[PROFILE_REST] == '' then
    p[PROFILE_REST] = nil
  else
    p[PROFILE_REST] = p[PROFILE_REST + 1]
  end
  p[PROFILE_REST + 1] = nil
  return p
end

local function encode_profile(p)
  if p[PROFILE_REST] then
    return table.concat(p, SEP, 1, PROFILE_REST)
  end
  local last = #LAYOUT
  while last > 0 and p[last] == '' do
    last = last - 1
  end
  return table.concat(p, SEP, 1, last)
end

-- ---------------------------------------------------------------------
-- Change records (store/record.go): every change a script makes is
-- recorded by that same script, so that a change without its record, or a
-- record without its change, cannot exist. Go prepares each record's
-- parts (record.go's record) and the scripts only join them: string work
-- in Lua is most of what a script costs Redis. Two records:
--   - the target's history (h:<user>), one string: the number of its
--     entries, then the entries, oldest first, at most HISTORY_KEEP, all
--     separated by RS; each entry SEP-joined values: its ID
--     (the change's time in Unix ms, unique per user: edit.lua's stamp),
--     the field codes run together, then the tail Go prepared: 's' (self)
--     or 'a' (admin), ip, client_id, device_id, user agent. It expires
--     HISTORY_TTL_MS after its latest entry. A string rather than a list:
--     a list of one entry costs about 130 bytes more (record.go).
--   - with events on, one entry in the environment's stream (events),
--     added with XADD *, whose one field, event, is the event's JSON
--     without its id: the id is the entry's ID, which readers add
--     (docs/events.md).

-- HISTORY_KEEP and HISTORY_TTL_MS: record.go's historyKeep and historyTTL
-- (90 days), the latter a string, as redis.call is given it (count).
local HISTORY_KEEP = 50
local HISTORY_TTL_MS = '7776000000'

-- json_value is a stored value as JSON: '' (unset) is null. (cjson writes
-- '/' as '\/': valid JSON, which every parser reads as '/'.)
local function json_value(v)
  if v == '' then
    return 'null'
  end
  return cjson.encode(v)
end

-- append_event adds one event, its JSON text, to stream, trimmed to about
-- maxlen entries, and returns its entry ID, or an error reply having
-- written nothing. Revocation scripts call it before their other writes,
-- so that an error leaves nothing half done. The reply starts with Redis's
-- own error code: as the first write, XADD is what a Redis that refuses
-- writes (OOM, READONLY, MISCONF, NOREPLICAS) refuses, and the store
-- tells those, which are 503s, from a bug by that code (errors.go).
local function append_event(stream, maxlen, event)
  local id = redis.pcall('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'event', event)
  if type(id) == 'table' then
    return redis.error_reply(tostring(id.err) .. ' (appending an event)')
  end
  return id
end

-- RS separates a history's entries.
local RS = '\30'

-- record_change records one change of user's profile at stamp (Unix ms,
-- greater than any earlier change of user's): changes are edit.lua's, each
-- with its code, current value (cur) and new value ('' for unset); those
-- whose new value is the current one are not recorded. tail is the history
-- entry's tail ('': record nothing), maxlen the stream's length ('0': no
-- event) and head the event's JSON without its changes and closing brace
-- (record.go's record). Nothing changed, nothing recorded. Called before
-- the change's own writes, in an order that leaves nothing half done: the
-- history is read first (a key of the wrong type fails the script there),
-- the event is the first write (if Redis refuses it, the script fails with
-- nothing written), and the history's SET cannot fail. Returns the
-- event's entry ID, nil when no event is made, or an error reply.
local function record_change(history, stream, tail, maxlen, head, stamp, changes)
  local codes = ''
  for _, c in ipairs(changes) do
    if c.new ~= c.cur then
      codes = codes .. c.code
    end
  end
  if tail == '' or codes == '' then
    return nil
  end
  local old = redis.call('GET', history)
  local id
  if maxlen ~= '0' then
    -- FIELD_NAME names the field codes as basic/edit does: events show
    -- these names. (b, z and l are the OIDC fields that PATCH
    -- user/profile sets.)
    local FIELD_NAME = {
      n = 'nickname', u = 'username', p = 'phone', e = 'email',
      a = 'avatar_url', g = 'gender', d = 'description',
      b = 'birthdate', z = 'zoneinfo', l = 'locale',
    }
    local members = {}
    for _, c in ipairs(changes) do
      if c.new ~= c.cur then
        members[#members + 1] = '"' .. (FIELD_NAME[c.code] or c.code) .. '":{"old":' .. json_value(c.cur) ..
          ',"new":' .. json_value(c.new) .. '}'
      end
    end
    id = append_event(stream, maxlen, head .. ',"changes":{' .. table.concat(members, ',') .. '}}')
    if type(id) == 'table' then
      return id
    end
  end
  local entry = stamp .. SEP .. codes .. SEP .. tail
  -- The history is "<count>" RS entry RS entry ..., oldest first, so
  -- that dropping the oldest and adding the newest need two plain finds
  -- and one copy. A history that does not parse is started again (Audit
  -- reports one).
  local value = '1' .. RS .. entry
  if old then
    local at = string.find(old, RS, 1, true)
    local kept = at and tonumber(string.sub(old, 1, at - 1))
    if kept then
      local from = at + 1
      if kept >= HISTORY_KEEP then
        local second = string.find(old, RS, from, true)
        kept = second and kept - 1 or 0
        from = second and second + 1
      end
      if kept > 0 then
        value = (kept + 1) .. RS .. string.sub(old, from) .. RS .. entry
      end
    end
  end
  redis.call('SET', history, value, 'PX', HISTORY_TTL_MS)
  return id
end
