-- wrk script for the referral_app API benchmarks (bench/run.py runs it; see docs/benchmarks.md).
--
-- BENCH_MODE=get     GET the URL's path with "Authorization: Bearer $BENCH_TOKEN".
-- BENCH_MODE=verify  POST /api/v1/auth/token with the "phone code" pairs of the file named after "--".
--                    Login codes are single-use, so every pair is used once: thread k of BENCH_THREADS
--                    takes lines k, k+T, k+2T, ... and all requests are built up front. Should a thread
--                    run out, it starts over (those answers are 400s, counted in errors.status, and
--                    "reused" in the report says how many).
-- BENCH_MODE=flood   refused requests only: alternately POST /api/v1/auth/code for BENCH_FLOOD_SENT_PHONE (a
--                    phone within its resend cooldown) and POST /api/v1/auth/token with a wrong code for
--                    BENCH_FLOOD_LOCKED_PHONE (a locked phone), each from a random X-Forwarded-For address
--                    so that no per-requester limit answers first. Every answer should be a 429.
-- BENCH_MODE=control the flood's control: the same two paths, headers and addresses, but bodies the schema
--                    refuses (`"phone": null`, 422 validation_error): cheap requests that are not refusals
--                    of a limit. Every answer should be a 422.
-- done() prints one line "BENCH_JSON {...}" with throughput, latency percentiles and errors.

local mode = os.getenv("BENCH_MODE") or "get"
local token = os.getenv("BENCH_TOKEN") or ""
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local requests_list = {}
sent = 0
reused = 0

function init(args)
  if mode == "verify" then
    local path = args[1]
    local file = assert(io.open(path, "r"), "cannot open pairs file " .. tostring(path))
    local headers = { ["Content-Type"] = "application/json" }
    local index = 0
    for line in file:lines() do
      if index % nthreads == id then
        local phone, code = line:match("^(%S+)%s+(%S+)$")
        local body = string.format('{"phone":"%s","code":"%s"}', phone, code)
        table.insert(requests_list, wrk.format("POST", "/api/v1/auth/token", headers, body))
      end
      index = index + 1
    end
    file:close()
  elseif mode == "flood" or mode == "control" then
    math.randomseed(os.time() + id)
  else
    wrk.headers["Authorization"] = "Bearer " .. token
    table.insert(requests_list, wrk.format("GET", wrk.path))
  end
end

function request()
  sent = sent + 1
  if mode == "flood" or mode == "control" then
    local headers = {
      ["Content-Type"] = "application/json",
      ["X-Forwarded-For"] = string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254)),
    }
    if mode == "control" then
      if sent % 2 == 0 then
        return wrk.format("POST", "/api/v1/auth/code", headers, '{"phone":null}')
      end
      return wrk.format("POST", "/api/v1/auth/token", headers, '{"phone":null,"code":"0000"}')
    end
    if sent % 2 == 0 then
      local body = string.format('{"phone":"%s"}', os.getenv("BENCH_FLOOD_SENT_PHONE"))
      return wrk.format("POST", "/api/v1/auth/code", headers, body)
    end
    local body = string.format('{"phone":"%s","code":"%s"}', os.getenv("BENCH_FLOOD_LOCKED_PHONE"),
      os.getenv("BENCH_FLOOD_WRONG_CODE"))
    return wrk.format("POST", "/api/v1/auth/token", headers, body)
  end
  if mode ~= "verify" then
    return requests_list[1]
  end
  if sent > #requests_list then
    reused = reused + 1
    return requests_list[(sent - 1) % #requests_list + 1]
  end
  return requests_list[sent]
end

function done(summary, latency, requests)
  local total_sent, total_reused = 0, 0
  for _, thread in ipairs(threads) do
    total_sent = total_sent + (thread:get("sent") or 0)
    total_reused = total_reused + (thread:get("reused") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_s":%.3f,"rps":%.1f,"mean_ms":%.2f,"p50_ms":%.2f,"p90_ms":%.2f,'
      .. '"p99_ms":%.2f,"max_ms":%.2f,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"sent":%d,"reused":%d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency.mean / 1000, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.connect, e.read, e.write, e.status, e.timeout, total_sent, total_reused))
end
