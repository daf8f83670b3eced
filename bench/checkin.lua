-- wrk script: a check-in burst by text message. Each of 5,000 volunteers sends "签到 NNNN"
-- once, as the SMS gateway would deliver it (POST /chat/sms/inbound, Twilio's form fields and
-- X-Twilio-Signature). One connection per thread (wrk -t N -c N): thread t sends for
-- volunteers t, t + N, t + 2N … and stops after its last answer. The code on the screen
-- rotates every 30 s, so bench/checkin.py writes every volunteer's signed message for each
-- rotation of the run to bench/work/checkin_data.tsv (rotation, volunteer, signature,
-- body); a message is picked for the rotation of the moment it is sent.
package.path = package.path .. ";" .. os.getenv("LINLI_BENCH_DIR") .. "/?.lua"
local shared = require("wrk_threads")
setup = shared.setup

function init(args)
  volunteers = tonumber(args[1])
  local nthreads = tonumber(args[2])
  messages = {}
  mine = shared.share(tid, volunteers, nthreads)
  local wanted = {}
  for _, index in ipairs(mine) do wanted[index] = true end
  for line in io.lines(os.getenv("LINLI_BENCH_WORK") .. "/checkin_data.tsv") do
    local rotation, index, signature, body = line:match("^(%d+)\t(%d+)\t([^\t]+)\t(.*)$")
    index = tonumber(index)
    if wanted[index] then
      rotation = tonumber(rotation)
      messages[rotation] = messages[rotation] or {}
      messages[rotation][index] = {signature, body}
    end
  end
  answered, failed = 0, 0
end

function request()
  -- The next volunteer still without an answer: wrk may build a request again for a
  -- connection it reopens, and that must not skip anyone (a resend is the same message).
  local index = mine[math.min(answered + 1, #mine)]
  local rotation = math.floor(os.time() / 30)
  local message = (messages[rotation] or messages[rotation - 1])[index]
  return wrk.format("POST", "/chat/sms/inbound", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Twilio-Signature"] = message[1],
  }, message[2])
end

function response(status, headers, body)
  answered = answered + 1
  if status ~= 200 then
    failed = failed + 1
    if failed <= 3 then io.stderr:write("HTTP " .. status .. " " .. body:sub(1, 200) .. "\n") end
  end
  if answered >= #mine then wrk.thread:stop() end
end

function done(summary, latency, requests)
  shared.report_burst(latency)
end
