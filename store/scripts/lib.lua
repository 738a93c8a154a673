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
