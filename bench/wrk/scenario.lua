-- wrk script for bench/run.sh. One script for every scenario; its behaviour
-- comes from the arguments after wrk's "--":
--
--   mode      plain | bearer | edit
--               plain:  GET the URL, no token
--               bearer: GET the URL with Authorization: Bearer <token>
--               edit:   POST the URL with a token and a JSON body changing
--                       nickname and username (a username unique per request)
--   tokens    file of fixed-length token lines written by bench/mint
--   line_len  length of one line, newline included (mint prints it)
--   start     index of the first token this run may use
--   total     tokens usable in the file (indexes below it)
--   nthreads  wrk's -t
--   salt      makes this run's usernames differ from every other run's
--   repeat    1: send the token at index start on every request
--
-- The threads take blocks of BLOCK tokens in turn (thread t: blocks t,
-- t + nthreads, ...), streaming each block from the file (a seek, then
-- buffered reads): a thread holds one token at a time however many a run
-- sends, and run.sh learns from done() how far the run got, so the next run
-- starts after it. A thread that reaches the end of the file starts again
-- from its beginning and counts a wrap: with wraps > 0, tokens were reused.
--
-- done() prints one line "WRKJSON {...}" for run.sh to parse.

local BLOCK = 1000

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

-- Globals, so that done() can read them with thread:get.
served = 0
wraps = 0

local mode, file, line_len, start, total, nthreads, salt, fixed
local block, pos, seq = 0, 0, 0

local function read_token()
   local tok = file:read(line_len - 1)
   if tok == nil or #tok ~= line_len - 1 then
      error("token file ended early: run.sh passed a total past its end")
   end
   file:read(1) -- the newline
   return tok
end

local function seek_block()
   local idx = start + (block * nthreads + id) * BLOCK
   if idx + BLOCK > total then
      wraps = wraps + 1
      start, block = 0, 0
      idx = id * BLOCK
   end
   file:seek("set", idx * line_len)
   pos = 0
end

function init(args)
   mode = args[1] or "plain"
   if mode == "plain" then
      return
   end
   local path = args[2]
   line_len, start, total, nthreads = tonumber(args[3]), tonumber(args[4]), tonumber(args[5]), tonumber(args[6])
   salt = args[7] or "0"
   file = assert(io.open(path, "rb"))
   if args[8] == "1" then
      file:seek("set", start * line_len)
      fixed = read_token()
      file:close()
      return
   end
   seek_block()
end

local function next_token()
   if fixed then
      return fixed
   end
   if pos == BLOCK then
      block = block + 1
      seek_block()
   end
   pos = pos + 1
   served = served + 1
   return read_token()
end

function request()
   if mode == "plain" then
      return wrk.format("GET")
   end
   local headers = { ["Authorization"] = "Bearer " .. next_token() }
   if mode == "bearer" then
      return wrk.format("GET", nil, headers)
   end
   seq = seq + 1
   headers["Content-Type"] = "application/json"
   local tag = salt .. "_" .. id .. "_" .. seq
   local body = '{"nickname":"Bench ' .. tag .. '","username":"bu_' .. tag .. '"}'
   return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
   local w, most = 0, 0
   for _, t in ipairs(threads) do
      w = w + (t:get("wraps") or 0)
      most = math.max(most, t:get("served") or 0)
   end
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format(
      'WRKJSON {"requests":%d,"duration_us":%d,"rps":%.1f,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d},' ..
      '"wraps":%d,"blocks_per_thread":%d,"block":%d}\n',
      summary.requests, summary.duration, summary.requests / secs, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
      w, math.ceil(most / BLOCK), BLOCK))
end
