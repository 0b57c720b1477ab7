-- wrk script: wrk_signed.lua at a steady rate. Each connection waits
-- WRK_PACE_MS milliseconds (default 1) after each response before it sends
-- the next request, so that C connections offer at most C * 1000 / PACE
-- requests/s: a load below the server's capacity, where latency is the
-- server's and not a queue's. Usage as wrk_signed.lua's, with the variable set.

dofile("scripts/wrk_signed.lua")

local pace = tonumber(os.getenv("WRK_PACE_MS") or "1")

function delay()
  return pace
end
