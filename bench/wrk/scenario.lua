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
--   count     how many tokens this run may use; 1 repeats one token
--   nthreads  wrk's -t, so each thread takes its own slice of [start, start+count)
--   salt      makes this run's usernames differ from every other run's
--
-- Tokens are streamed from the file (a seek, then buffered reads), not
-- loaded: a thread holds one line at a time however many tokens a run uses.
-- A thread that exhausts its slice starts it again and counts a wrap, which
-- done() reports: with wraps > 0 tokens were reused and the run does not
-- show a distinct token per request.
--
-- done() prints one line "WRKJSON {...}" for run.sh to parse.

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

local mode, file, line_len, first, slice, salt
local served, seq = 0, 0
wraps = 0 -- global: done() reads it through thread:get
local fixed_headers = {}

local function rewind()
   file:seek("set", first * line_len)
   served = 0
end

function init(args)
   mode = args[1] or "plain"
   if mode ~= "plain" then
      local path = args[2]
      line_len = tonumber(args[3])
      local start, count, nthreads = tonumber(args[4]), tonumber(args[5]), tonumber(args[6])
      salt = args[7] or "0"
      if count == 1 then
         first, slice = start, 1
      else
         slice = math.floor(count / nthreads)
         first = start + id * slice
      end
      file = assert(io.open(path, "rb"))
      rewind()
   end
   if mode == "edit" then
      fixed_headers["Content-Type"] = "application/json"
   end
end

local function next_token()
   if served == slice then
      if slice > 1 then
         wraps = wraps + 1
      end
      rewind()
   end
   served = served + 1
   local tok = file:read(line_len - 1)
   if tok == nil or #tok ~= line_len - 1 then
      error("token file ended before the slice did: run.sh gave a range past its end")
   end
   file:read(1) -- the newline
   return tok
end

function request()
   if mode == "plain" then
      return wrk.format("GET", nil, fixed_headers)
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
   local w = 0
   for _, t in ipairs(threads) do
      w = w + (t:get("wraps") or 0)
   end
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format(
      'WRKJSON {"requests":%d,"duration_us":%d,"rps":%.1f,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d},' ..
      '"wraps":%d}\n',
      summary.requests, summary.duration, summary.requests / secs, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
      w))
end
