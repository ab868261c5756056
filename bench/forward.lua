-- wrk script: GET /v1/auth/forward the way a gateway asks it: the client's
-- Basic credentials of a random key, the route's API, and the address the
-- gateway saw in X-Forwarded-For (keyledger runs with trusted hops 1).
-- Credentials come from KEYLEDGER_BENCH_CREDENTIALS, as for auth.lua.

local credentials = dofile(os.getenv("KEYLEDGER_BENCH_CREDENTIALS"))
local count = #credentials
local next_thread = 0

function setup(thread)
   next_thread = next_thread + 1
   thread:set("thread_number", next_thread)
end

function init(args)
   math.randomseed(os.time() * 1000 + (thread_number or 0))
end

function request()
   local headers = {
      ["Authorization"] = credentials[math.random(count)],
      ["X-Keyledger-Api"] = "send",
      ["X-Forwarded-For"] = "203.0.113.9",
   }
   return wrk.format("GET", "/v1/auth/forward", headers)
end
