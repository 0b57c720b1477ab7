-- wrk script: each request carries the next pre-signed Authorization value
-- from a file (one a line, see `bench_server sign-requests`), so that no
-- nonce is sent twice. Usage: wrk -t1 ... -s scripts/wrk_signed.lua URL -- FILE
-- Use one wrk thread: each thread would read the same file.

local requests = {}
local next_index = 1

function init(args)
  local path = args[1]
  local file = assert(io.open(path, "r"), "cannot open " .. tostring(path))
  for line in file:lines() do
    requests[#requests + 1] = wrk.format("GET", nil, { ["Authorization"] = line })
  end
  file:close()
  assert(#requests > 0, "no signed requests in " .. path)
end

function request()
  local r = requests[next_index]
  -- Past the end, wrap around: the replays are refused and show up in wrk's
  -- "Non-2xx or 3xx responses" line.
  next_index = next_index % #requests + 1
  return r
end
