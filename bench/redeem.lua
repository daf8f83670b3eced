-- wrk script: full redemptions, each a volunteer's POST /api/v1/me/redemption-code then a
-- shop's POST /api/v1/redemptions with the code it returned. One connection per thread
-- (wrk -t N -c N), so each thread's two steps alternate in order. bench/redemption.py
-- writes bench/work/redeem_data.lua (tokens, offers) and passes the mode: "spread" sends
-- each sale to the next of the shops, "hot" every sale to the first, and "code" asks for
-- codes only (the API's smallest write: the floor under any request of the two).
package.path = package.path .. ";" .. os.getenv("LINLI_BENCH_WORK") .. "/?.lua"
local data = require("redeem_data")
package.path = package.path .. ";" .. os.getenv("LINLI_BENCH_DIR") .. "/?.lua"
local shared = require("wrk_threads")
setup = shared.setup

function init(args)
  mode = args[1] or "spread"
  nonce = args[2] or "0"  -- fresh per wrk run: a key is never replayed from an earlier run
  step, n, done_ok, refused, code_fail = 0, 0, 0, 0, 0
  local per = math.floor(#data.volunteers / data.threads)
  first_volunteer = (tid - 1) * per
  volunteers_here = per
end

local function json_headers(token, key)
  return {
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = key,
    ["Content-Type"] = "application/json",
  }
end

function request()
  if step == 0 then
    n = n + 1
    volunteer = data.volunteers[first_volunteer + (n % volunteers_here) + 1]
    return wrk.format("POST", "/api/v1/me/redemption-code",
      json_headers(volunteer, "c-" .. nonce .. "-" .. tid .. "-" .. n), "{}")
  end
  local shop = 1
  if mode == "spread" then shop = (tid + n) % #data.shops + 1 end
  local body = '{"code":"' .. code .. '","offer_id":' .. data.offers[shop] .. ',"quantity":1}'
  return wrk.format("POST", "/api/v1/redemptions",
    json_headers(data.shops[shop], "r-" .. nonce .. "-" .. tid .. "-" .. n), body)
end

function response(status, headers, body)
  if step == 0 then
    code = body:match('"code":%s*"(%d+)"')
    if status == 201 and code then
      if mode == "code" then done_ok = done_ok + 1 else step = 1 end
    else
      code_fail = code_fail + 1
    end
  else
    step = 0
    if status == 201 then done_ok = done_ok + 1 else
      refused = refused + 1
      if refused <= 3 then io.stderr:write("refused " .. status .. " " .. body .. "\n") end
    end
  end
end

function done(summary, latency, requests)
  local ok, bad, codes = 0, 0, 0
  for _, thread in ipairs(shared.threads) do
    ok = ok + thread:get("done_ok")
    bad = bad + thread:get("refused")
    codes = codes + thread:get("code_fail")
  end
  io.write(string.format("LINLI redemptions=%d refused=%d code_failures=%d seconds=%.3f p50_ms=%.1f p99_ms=%.1f\n",
    ok, bad, codes, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
