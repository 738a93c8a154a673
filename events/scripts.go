package events

import "github.com/redis/go-redis/v9"

// nowMsLua is Redis's clock in Unix milliseconds, for the leases on
// trimmed events (touchScript, staleScript): one clock for all instances.
const nowMsLua = `
local function now_ms()
  local t = redis.call('TIME')
  return t[1] * 1000 + math.floor(t[2] / 1000)
end
`

// forget removes one event from the in-flight hash (KEYS[2]) and returns
// the user's next event ID, or false. It is shared by the scripts below.
const forgetLua = `
local function forget(pend, id)
  local user = redis.call('HGET', pend, 'i:' .. id)
  if not user then return false end
  redis.call('HDEL', pend, 'i:' .. id, 'h:' .. id)
  local q = redis.call('HGET', pend, 'u:' .. user)
  if not q then return false end
  local rest = {}
  for x in string.gmatch(q, '%S+') do
    if x ~= id then rest[#rest + 1] = x end
  end
  if #rest == 0 then
    redis.call('HDEL', pend, 'u:' .. user)
    return false
  end
  redis.call('HSET', pend, 'u:' .. user, table.concat(rest, ' '))
  return rest[1]
end

local function userOf(fields)
  local ev = ''
  for j = 1, #fields, 2 do
    if fields[j] == 'event' then ev = fields[j + 1] end
  end
  local ok, obj = pcall(cjson.decode, ev)
  if ok and type(obj) == 'table' and type(obj.user_id) == 'string' then
    return ev, obj.user_id
  end
  return ev, ''
end
`

// readScript takes up to ARGV[3] new events for consumer ARGV[2] of group
// ARGV[1] and, in the same step, queues each behind its user's earlier
// events in the in-flight hash. Reading and queueing at once is what keeps
// per-user order across instances: the group hands events out in stream
// order, so an event's earlier ones are always already queued, whoever
// holds them. Each reply entry: {id, event, user, head}, head 1 when no
// earlier event of that user is in flight. With nothing new, it returns
// {{}, <last ID in the stream or "0-0">} for a blocking XREAD to wait on.
//
// First it tells the events trimmed from the stream before the group
// read them (a receiver down while more than stream_max_len events were
// made): lost to the webhook, and skipped by XREADGROUP without a word.
// The group's lag (XINFO GROUPS: events added less events read, when
// Redis knows it) keeps counting them; while the group's last-delivered
// ID is below the stream's first entry, which the read below ends, every
// entry left is unread, so the lag beyond the stream's length is the
// number lost. The group's read counter is then set past them (XGROUP
// SETID, at the same ID), so that each loss is told once. All through
// pcall: a Redis user refused them still reads. The third reply element:
// {lost, last-delivered ID, first entry ID or ""}, or {0}.
var readScript = redis.NewScript(forgetLua + `
local function idless(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
local lost = {0}
local groups = redis.pcall('XINFO', 'GROUPS', KEYS[1])
if type(groups) == 'table' and not groups.err then
  for _, g in ipairs(groups) do
    local f = {}
    for i = 1, #g, 2 do
      f[g[i]] = g[i + 1]
    end
    if f.name == ARGV[1] and f.lag and f['entries-read'] then
      local len = redis.pcall('XLEN', KEYS[1])
      if type(len) == 'number' and f.lag > len then
        local last = f['last-delivered-id']
        local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
        if not first or idless(last, first[1]) then
          lost = {f.lag - len, last, first and first[1] or ''}
          redis.pcall('XGROUP', 'SETID', KEYS[1], ARGV[1], last, 'ENTRIESREAD', f['entries-read'] + f.lag - len)
        end
      end
    end
  end
end
local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS', KEYS[1], '>')
local out = {}
if r then
  for _, e in ipairs(r[1][2]) do
    local id = e[1]
    local ev, user = userOf(e[2])
    local q = redis.call('HGET', KEYS[2], 'u:' .. user)
    local head = 0
    if q then q = q .. ' ' .. id else q = id; head = 1 end
    redis.call('HSET', KEYS[2], 'u:' .. user, q, 'i:' .. id, user)
    out[#out + 1] = {id, ev, user, head}
  end
end
if #out > 0 then return {out, '', lost} end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if last[1] then return {out, last[1][1], lost} end
return {out, '0-0', lost}
`)

// claimScript moves to consumer ARGV[2] the events of group ARGV[1] left
// pending longer than ARGV[3] ms (an instance that died), from cursor
// ARGV[4], at most ARGV[5].
//
// XAUTOCLAIM also drops from the pending list every entry it passes that
// was trimmed from the stream, whatever its idle time, and names it. One
// idle that long was a dead instance's: its body is gone, so it is lost;
// it is forgotten and named in the reply, which the caller tells. One
// idle less is held by a live instance that has its body and is still
// delivering it, between the trim and that instance's next touch: it
// keeps its place in its user's queue, under a lease of ARGV[3] ms that
// its holder renews (touchScript), as if the holder had seen the trim
// first. Forgetting it let the user's next event go before it. The idle
// times are read first, of the pending entries below the stream's first
// (the trimmed ones: usually none) that XAUTOCLAIM scans (at most ten
// times its count); one deleted by hand (XDEL) above them reads as live,
// and is reported once its lease has run out (staleScript).
// Reply: {next cursor, {{id, event, user}...}, {lost id...}}.
var claimScript = redis.NewScript(nowMsLua + forgetLua + `
local idle = {}
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
local below = '+'
if first then below = '(' .. first[1] end
for _, p in ipairs(redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[4], below, tonumber(ARGV[5]) * 10)) do
  idle[p[1]] = p[3]
end
local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
local out = {}
for _, e in ipairs(r[2]) do
  local id = e[1]
  local ev, user = userOf(e[2])
  if not redis.call('HGET', KEYS[2], 'i:' .. id) then
    -- Not queued (the hash was lost): queue it now, at the end.
    local q = redis.call('HGET', KEYS[2], 'u:' .. user)
    if q then q = q .. ' ' .. id else q = id end
    redis.call('HSET', KEYS[2], 'u:' .. user, q, 'i:' .. id, user)
  end
  out[#out + 1] = {id, ev, user}
end
local lost = {}
for _, id in ipairs(r[3] or {}) do
  if (idle[id] or 0) >= tonumber(ARGV[3]) then
    forget(KEYS[2], id)
    lost[#lost + 1] = id
  elseif redis.call('HEXISTS', KEYS[2], 'i:' .. id) == 1 and redis.call('HEXISTS', KEYS[2], 'h:' .. id) == 0 then
    redis.call('HSET', KEYS[2], 'h:' .. id, now_ms() + tonumber(ARGV[3]))
  end
end
return {r[1], out, lost}
`)

// doneScript acknowledges event ARGV[2] in group ARGV[1] and forgets it;
// with ARGV[3], the event as delivered, it first parks it in the
// dead-letter list (KEYS[3]), unless another instance acknowledged it
// meanwhile (then it was delivered): it is parked while it is pending, or
// once it is gone from the stream, since Redis 7's XCLAIM (touchScript's)
// drops a trimmed entry from the pending list, and such an event was not
// delivered either. The RPUSH comes before the XACK: if it fails, the
// event stays pending, to be retried, rather than acknowledged and lost.
// Before it, the list is cut to leave room for it under ARGV[4]
// (Options.DeadMax), oldest first: first, so that a refused LTRIM (a
// Redis user without it) writes nothing, where after the RPUSH each retry
// would have parked the event once more.
// Reply: the user's next event ID, or nil.
var doneScript = redis.NewScript(forgetLua + `
if ARGV[3] then
  local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)[1]
  if pending or not redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])[1] then
    local over = redis.call('LLEN', KEYS[3]) - tonumber(ARGV[4]) + 1
    redis.call('LTRIM', KEYS[3], math.max(over, 0), -1)
    redis.call('RPUSH', KEYS[3], ARGV[3])
  end
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return forget(KEYS[2], ARGV[2])
`)

// touchScript resets the idle time of the events in ARGV[4:] that consumer
// ARGV[2] still holds, so that a long delivery (a receiver down for hours)
// is not taken for a dead instance's. Events another consumer claimed are
// left to it.
//
// An event trimmed from the stream while held leaves the pending list at
// its next XCLAIM (Redis 7 drops trimmed entries there), yet its holder
// still has its body and is still delivering it. So that the user's later
// events keep waiting behind it, the holder takes a lease on it in the
// in-flight hash (KEYS[2], field h:<id>, until now + ARGV[3] ms) and
// renews it at every touch; staleScript forgets such an event only once
// the lease has run out (its holder is gone with the body). Reply: how
// many events were touched.
var touchScript = redis.NewScript(nowMsLua + `
local lease = now_ms() + tonumber(ARGV[3])
local n = 0
for i = 4, #ARGV do
  local id = ARGV[i]
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
  if p[1] and p[1][2] == ARGV[2] then
    if not redis.call('XRANGE', KEYS[1], id, id)[1] and redis.call('HEXISTS', KEYS[2], 'i:' .. id) == 1 then
      redis.call('HSET', KEYS[2], 'h:' .. id, lease)
    end
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id, 'JUSTID')
    n = n + 1
  elseif not p[1] and redis.call('HEXISTS', KEYS[2], 'h:' .. id) == 1 then
    redis.call('HSET', KEYS[2], 'h:' .. id, lease)
    n = n + 1
  end
end
return n
`)

// staleScript forgets event ARGV[2] if it is no longer pending in group
// ARGV[1] (its queue entry outlived it: the group was recreated, or the
// entry acknowledged by hand), so the user's later events are not held
// behind it forever. A trimmed event under a live lease (touchScript) is
// still being delivered and is kept. Reply: 0 if kept, 1 if forgotten,
// 2 if forgotten after its lease ran out: its holder stopped with the only
// copy of its body, so it is lost.
var staleScript = redis.NewScript(nowMsLua + forgetLua + `
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if p[1] then return 0 end
local lease = redis.call('HGET', KEYS[2], 'h:' .. ARGV[2])
if lease then
  if now_ms() < tonumber(lease) then return 0 end
  forget(KEYS[2], ARGV[2])
  return 2
end
forget(KEYS[2], ARGV[2])
return 1
`)

// trimmedScript returns which of the events in ARGV are still in flight
// (KEYS[2]) but gone from the stream (KEYS[1]): trimmed while held.
var trimmedScript = redis.NewScript(`
local out = {}
for i = 1, #ARGV do
  local id = ARGV[i]
  if redis.call('HEXISTS', KEYS[2], 'i:' .. id) == 1 and not redis.call('XRANGE', KEYS[1], id, id)[1] then
    out[#out + 1] = id
  end
end
return out
`)

// redeliverScript moves up to ARGV[2] dead letters (KEYS[3]) back to the
// stream, trimmed to about ARGV[1] entries, oldest first. Each keeps its
// id inside the JSON, hence its webhook-id. Each is appended before it is
// popped: if the XADD fails, the dead letter stays.
//
// Each one appended to a full stream trims its oldest entry, and after an
// outage those may be events group ARGV[3] still needs: not read yet, or
// read and not acknowledged (pending from the oldest on). Trimmed, the
// first would be lost to the webhook, the others to a dead holder's
// successor. So it moves no more than the trim can take from the entries
// the group is done with: those before its oldest pending one, or with
// none pending, up to its last-delivered ID (read from XINFO GROUPS; no
// group: none). Reply: how many moved.
var redeliverScript = redis.NewScript(`
local maxlen, n = tonumber(ARGV[1]), tonumber(ARGV[2])
local len = redis.call('XLEN', KEYS[1])
local last
if len > 0 then
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
    local f = {}
    for i = 1, #g, 2 do
      f[g[i]] = g[i + 1]
    end
    if f.name == ARGV[3] then
      last = f['last-delivered-id']
      local oldest = redis.call('XPENDING', KEYS[1], ARGV[3])[2]
      if oldest then last = '(' .. oldest end
    end
  end
end
local over = len + n - maxlen
if over > 0 then
  local done = 0
  if last then done = #redis.call('XRANGE', KEYS[1], '-', last, 'COUNT', over) end
  n = n - (over - done)
end
local moved = 0
while moved < n do
  local ev = redis.call('LINDEX', KEYS[3], 0)
  if not ev then break end
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'event', ev)
  redis.call('LPOP', KEYS[3])
  moved = moved + 1
end
return moved
`)

// forgetConsumersScript removes from group ARGV[1] the consumers other
// than ARGV[2] that hold no event and have not read for ARGV[3] ms:
// instances that died or stopped without leaving the group, named again
// by their next read if they were only quiet. Checked and removed in one
// script, since XGROUP DELCONSUMER drops whatever the consumer holds by
// then. Reply: how many were removed.
var forgetConsumersScript = redis.NewScript(`
local n = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local f = {}
  for i = 1, #c, 2 do
    f[c[i]] = c[i + 1]
  end
  if f.name ~= ARGV[2] and f.pending == 0 and f.idle > tonumber(ARGV[3]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f.name)
    n = n + 1
  end
end
return n
`)
