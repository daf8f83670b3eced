-- What bench/'s wrk scripts share. wrk runs setup() and done() in one Lua state and each
-- thread's init(), request() and response() in a state of its own; each loads this module
-- (bench/ is put on package.path from LINLI_BENCH_DIR, which the Python scripts set).
local M = {threads = {}}

-- setup(): number each thread (its global `tid`, from 1) and keep it for the summary.
function M.setup(thread)
  table.insert(M.threads, thread)
  thread:set("tid", #M.threads)
end

-- The volunteers thread `tid` of `nthreads` takes: tid, tid + N, tid + 2N … to `volunteers`.
function M.share(tid, volunteers, nthreads)
  local mine = {}
  for index = tid, volunteers, nthreads do table.insert(mine, index) end
  return mine
end

-- done() of the check-in bursts: the one line bench/checkin.py reads, summed over the
-- threads' `answered` and `failed`.
function M.report_burst(latency)
  local total, bad = 0, 0
  for _, thread in ipairs(M.threads) do
    total = total + thread:get("answered")
    bad = bad + thread:get("failed")
  end
  io.write(string.format("LINLI answered=%d failed=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f\n",
    total, bad, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end

return M
