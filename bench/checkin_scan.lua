-- wrk script: a check-in burst by the phone's scan page. Each of 5,000 signed-in volunteers
-- opens the URL inside the projector's QR code once and goes through what the browser
-- does: GET /scan/in/<token> (the scan held in the session cookie, and the confirmation
-- page with its CSRF token; with JavaScript it sends itself), POST /scan/confirm (the
-- check-in). One connection per thread (wrk -t N -c N): thread t takes volunteers t, t + N
-- … and stops after its last check-in. bench/checkin.py writes bench/work/checkin_scan.tsv:
-- "T rotation token" for each rotation of the run and "C volunteer cookie" for each
-- volunteer's signed-in session.
package.path = package.path .. ";" .. os.getenv("LINLI_BENCH_DIR") .. "/?.lua"
local shared = require("wrk_threads")
setup = shared.setup

function init(args)
  local volunteers = tonumber(args[1])
  local nthreads = tonumber(args[2])
  tokens, cookies = {}, {}
  mine = shared.share(tid, volunteers, nthreads)
  for line in io.lines(os.getenv("LINLI_BENCH_WORK") .. "/checkin_scan.tsv") do
    local kind, key, value = line:match("^(%u)\t(%d+)\t(.*)$")
    if kind == "T" then tokens[tonumber(key)] = value
    elseif (tonumber(key) - tid) % nthreads == 0 then cookies[tonumber(key)] = value end
  end
  answered, failed, step, csrf = 0, 0, 0, nil
  cookie = cookies[mine[1]]
end

local function headers()
  return {["Cookie"] = "session=" .. cookie}
end

function request()
  if step == 0 then
    local rotation = math.floor(os.time() / 30)
    return wrk.format("GET", "/scan/in/" .. (tokens[rotation] or tokens[rotation - 1]), headers())
  end
  local h = headers()
  h["Content-Type"] = "application/x-www-form-urlencoded"
  return wrk.format("POST", "/scan/confirm", h, "csrf_token=" .. csrf)
end

local function keep_cookie(response_headers)
  for name, value in pairs(response_headers) do
    if name:lower() == "set-cookie" then
      local session = value:match("session=([^;]+)")
      if session then cookie = session end
    end
  end
end

local function next_volunteer(ok)
  if not ok then failed = failed + 1 end
  answered = answered + 1
  step, csrf = 0, nil
  if answered >= #mine then wrk.thread:stop() return end
  cookie = cookies[mine[answered + 1]]
end

function response(status, response_headers, body)
  keep_cookie(response_headers)
  if step == 0 then
    -- Signed in, the code's URL is the confirmation page itself.
    csrf = body:match('name="csrf_token" type="hidden" value="([^"]+)"')
    if status == 200 and csrf then step = 1 else
      if failed < 3 then io.stderr:write("scan HTTP " .. status .. " " .. body:sub(1, 200) .. "\n") end
      next_volunteer(false)
    end
  else
    next_volunteer(status == 200)
  end
end

function done(summary, latency, requests)
  shared.report_burst(latency)
end
