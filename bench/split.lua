-- wrk script: counts responses per worker pid (apps/hello.cjs answers "hello from <pid>") and
-- prints "split <pid> <count>" lines at the end. Used by http.mjs for the per-worker split
-- run only: reading every body costs wrk time, so throughput runs go without it.
local threads = {}
counts = {}

function setup(thread)
  table.insert(threads, thread)
end

function response(status, headers, body)
  local pid = body and string.match(body, "(%d+)$")
  if pid then counts[pid] = (counts[pid] or 0) + 1 end
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for pid, n in pairs(thread:get("counts")) do
      io.write(string.format("split %s %d\n", pid, n))
    end
  end
end
