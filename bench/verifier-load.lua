-- wrk script of bench/run-verifier-load.sh (driven by tests/examples/verifier_load.rs).
-- Thread t POSTs the pre-made OpenID4VP responses in $KLUIS_LOAD_BODIES.<t> (one form body a
-- line), each exactly once, to /response on port t mod #ports of $KLUIS_LOAD_PORTS, and stops
-- once all of them are answered. wrk itself runs for its whole -d and divides by it, so each
-- thread notes when it sent its first request and received its last response (CLOCK_MONOTONIC,
-- through LuaJIT's FFI); done() prints one JSON line for the driver: 200s, refusals, that span,
-- wrk's latency percentiles and its socket errors.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } kluis_timespec;
int clock_gettime(int clock, kluis_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("kluis_timespec")
local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end

-- Main state: one entry per thread, set up before the threads run.
local threads = {}
local ports = {}
for p in string.gmatch(os.getenv("KLUIS_LOAD_PORTS") or "", "%d+") do
  ports[#ports + 1] = p
end

function setup(thread)
  local id = #threads
  thread:set("id", id)
  if #ports > 0 then
    thread.addr = wrk.lookup("127.0.0.1", ports[id % #ports + 1])[1]
  end
  threads[#threads + 1] = thread
end

-- Thread states.
function init(args)
  bodies = {}
  local f = assert(io.open(os.getenv("KLUIS_LOAD_BODIES") .. "." .. id, "r"))
  for line in f:lines() do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
  f:close()
  reserved, sent, ok, bad, first_us, last_us = 0, 0, 0, 0, 0, 0
  form = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  if #bodies == 0 then
    io.stdout:write("kluis-load: thread " .. id .. " done (no bodies)\n")
    io.stdout:flush()
  end
end

-- wrk asks delay() before every request of every connection: a body is reserved here, so no
-- two connections take the same one; with none left the connection stays idle.
function delay()
  if reserved < #bodies then
    reserved = reserved + 1
    return 0
  end
  return 3600000
end

function request()
  if sent >= reserved then
    -- wrk's check of the script before the run (thread 0): parsed, never sent.
    return wrk.format("POST", "/response", form, bodies[1] or "")
  end
  sent = sent + 1
  if first_us == 0 then first_us = now_us() end
  return wrk.format("POST", "/response", form, bodies[sent])
end

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
  else
    bad = bad + 1
    if bad <= 3 then
      io.stderr:write("HTTP " .. status .. ": " .. string.sub(body, 1, 300) .. "\n")
    end
  end
  if ok + bad == #bodies then
    last_us = now_us()
    io.stdout:write("kluis-load: thread " .. id .. " done\n")
    io.stdout:flush()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local ok, bad, first, last = 0, 0, math.huge, 0
  for _, t in ipairs(threads) do
    ok = ok + t:get("ok")
    bad = bad + t:get("bad")
    local f, l = t:get("first_us"), t:get("last_us")
    if f > 0 and f < first then first = f end
    if l > last then last = l end
  end
  if first == math.huge then first = 0 end
  local e = summary.errors
  io.stdout:write(string.format(
    'kluis-load: {"ok":%d,"bad":%d,"first_us":%.0f,"last_us":%.0f,"p50_us":%.0f,"p99_us":%.0f,' ..
    '"max_us":%.0f,"mean_us":%.0f,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    ok, bad, first, last, latency:percentile(50), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
  io.stdout:flush()
end
