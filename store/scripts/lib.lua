-- lib.lua is put in front of every script (see scripts.go): how counters
-- and profiles are stored, defined once. No script computes a uniqueness
-- key (that would need IDNA for emails): Go computes every key
-- (keys.go's uniqueKey) and the scripts compare.

-- count adds one to a counter of a fixed window of window_ms that starts
-- with its first count, and returns the new count.
local function count(key, window_ms)
  local n = redis.call('INCR', key)
  if n == 1 then
    redis.call('PEXPIRE', key, window_ms)
  end
  return n
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

-- CHANNEL names the contact fields as verification tokens record them.
local CHANNEL = { p = 'phone', e = 'email' }
-- FIELD_OF is CHANNEL the other way: a channel's field code.
local FIELD_OF = { phone = 'p', email = 'e' }
-- OTHER_CONTACT is, for each contact field, the other one.
local OTHER_CONTACT = { p = 'e', e = 'p' }

-- A profile is one string: the values of LAYOUT joined by SEP, trailing
-- empty values left out (keys.go's profileLayout).
local SEP = '\31'
local LAYOUT = { 'c', 'm', 'n', 'u', 'p', 'e', 'a', 'g', 'd' }

-- decode_profile reads a profile string into a table of field → value
-- ('' for absent). Values past LAYOUT, from a newer layout, are kept in
-- .rest so that encode_profile writes them back.
local function decode_profile(s)
  local p = {}
  local start = 1
  for _, field in ipairs(LAYOUT) do
    local at = string.find(s, SEP, start, true)
    if not at then
      p[field] = string.sub(s, start)
      start = #s + 2
      break
    end
    p[field] = string.sub(s, start, at - 1)
    start = at + 1
  end
  for _, field in ipairs(LAYOUT) do
    p[field] = p[field] or ''
  end
  if start <= #s + 1 then
    p.rest = string.sub(s, start)
  end
  return p
end

local function encode_profile(p)
  local values = {}
  local last = 0
  for i, field in ipairs(LAYOUT) do
    values[i] = p[field] or ''
    if values[i] ~= '' then
      last = i
    end
  end
  if p.rest then
    last = #LAYOUT
    values[last + 1] = p.rest
  end
  return table.concat(values, SEP, 1, p.rest and last + 1 or last)
end

-- ---------------------------------------------------------------------
-- Change records (store/record.go): every change a script makes is
-- recorded by that same script, so that a change without its record, or a
-- record without its change, cannot exist. Two records:
--   - the target's history (h:<user>), a list, newest first, of at most
--     HISTORY_KEEP entries, each one string of SEP-joined values:
--     id, field codes run together, 's' (self) or 'a' (admin), ip,
--     client_id ('' for the environment itself), device_id, user agent;
--     the whole list expires HISTORY_TTL_MS after its latest entry;
--   - with events on, one entry in the environment's stream (events)
--     whose one field, event, is the event's JSON, id included.

-- HISTORY_KEEP and HISTORY_TTL_MS: record.go's historyKeep and historyTTL.
local HISTORY_KEEP = 50
local HISTORY_TTL_MS = 90 * 24 * 3600 * 1000

-- FIELD_NAME names the field codes as basic/edit does: events and
-- history show these names. A code missing here is shown as itself.
local FIELD_NAME = {
  n = 'nickname', u = 'username', p = 'phone', e = 'email',
  a = 'avatar_url', g = 'gender', d = 'description',
}

-- parse_origin reads the origin ARGV that Go packs (record.go's
-- Origin.pack): who made a change, from where, and whether it makes an
-- event. '' means the change is not recorded at all (tools, measurements).
local function parse_origin(s)
  if s == nil or s == '' then
    return nil
  end
  local names = { 'maxlen', 'now', 'at', 'actor', 'from', 'ip', 'client_id', 'device_id', 'user_agent' }
  local o, start = {}, 1
  for i, name in ipairs(names) do
    local stop = string.find(s, SEP, start, true)
    if not stop or i == #names then
      o[name] = string.sub(s, start)
      start = #s + 2
    else
      o[name] = string.sub(s, start, stop - 1)
      start = stop + 1
    end
  end
  for _, name in ipairs(names) do
    o[name] = o[name] or ''
  end
  return o
end

-- id_after is the first ID of the form "<ms>-<seq>" greater than last
-- (an ID or nil) whose ms is at least now: IDs only grow, even when a
-- clock steps back.
local function id_after(last, now)
  if last then
    local ms, seq = string.match(last, '^(%d+)-(%d+)$')
    ms, seq = tonumber(ms), tonumber(seq)
    if ms and ms >= now then
      return string.format('%d-%d', ms, seq + 1)
    end
  end
  return string.format('%d-0', now)
end

-- json_value: '' (unset) is JSON null.
local function json_value(v)
  if v == nil or v == '' then
    return cjson.null
  end
  return v
end

-- append_event adds one event to stream and returns its ID. The event's
-- JSON carries its own id, equal to its entry's ID, so the stored value
-- is the whole event: a consumer that reads the stream directly and the
-- webhook (its body, its webhook-id) see the same thing. The ID is chosen
-- here, after the newest entry's and from Redis's clock as XADD * would;
-- only if that entry was deleted (XDEL, so the stream's last generated ID
-- is past it) is XADD refused, and the ID is taken after that one instead.
-- fields are the event's own members (user.updated: changes). Revocation
-- scripts call it with kind 'user.tokens_revoked'.
local function append_event(stream, o, kind, user, fields)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local newest = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
  local event = {
    type = kind, user_id = user, actor = o.actor, client_id = o.client_id,
    device_id = json_value(o.device_id), ip = json_value(o.ip), at = o.at,
  }
  for k, v in pairs(fields) do
    event[k] = v
  end
  local function add(id)
    event.id = id
    -- cjson writes '/' as '\/': valid JSON, which every parser reads as '/'.
    return redis.pcall('XADD', stream, 'MAXLEN', '~', o.maxlen, id, 'event', cjson.encode(event))
  end
  local id = id_after(newest and newest[1], now)
  local added = add(id)
  if type(added) == 'table' and added.err then
    local info = redis.call('XINFO', 'STREAM', stream)
    local last
    for i = 1, #info, 2 do
      if info[i] == 'last-generated-id' then
        last = info[i + 1]
      end
    end
    id = id_after(last, now)
    added = add(id)
    if type(added) == 'table' and added.err then
      return redis.error_reply('events: ' .. added.err)
    end
  end
  return id
end

-- append_history adds one entry to a user's history, whose newest entry
-- is newest (or nil). Its ID grows per user from the edge's clock (o.now),
-- as append_event's do.
local function append_history(key, newest, o, codes)
  local id = id_after(newest and string.match(newest, '^[^\31]*'), tonumber(o.now))
  local entry = table.concat({ id, codes, o.from, o.ip, o.client_id, o.device_id, o.user_agent }, SEP)
  if redis.call('LPUSH', key, entry) > HISTORY_KEEP then
    redis.call('LTRIM', key, 0, HISTORY_KEEP - 1)
  end
  redis.call('PEXPIRE', key, HISTORY_TTL_MS)
end

-- record_change records one change of user's profile: changed lists
-- {code, old, new} for each field whose stored value changes ('' for
-- unset). Nothing changed, nothing recorded. Called before the change's
-- own writes, and reading both keys before writing either: if it fails
-- (a key of the wrong type), nothing is written. Returns the event's ID,
-- nil when no event is made, or an error reply.
local function record_change(history, stream, o, user, changed)
  if not o or #changed == 0 then
    return nil
  end
  local newest = redis.call('LINDEX', history, 0)
  local codes = {}
  for i, c in ipairs(changed) do
    codes[i] = c.code
  end
  local id
  if o.maxlen ~= '0' and o.maxlen ~= '' then
    local changes = {}
    for _, c in ipairs(changed) do
      changes[FIELD_NAME[c.code] or c.code] = { old = json_value(c.old), new = json_value(c.new) }
    end
    id = append_event(stream, o, 'user.updated', user, { changes = changes })
    if type(id) == 'table' then
      return id
    end
  end
  append_history(history, newest, o, table.concat(codes))
  return id
end
