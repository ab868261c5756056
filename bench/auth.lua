-- wrk script: POST /v1/auth with the Basic credentials of a random key.
-- The credentials file (KEYLEDGER_BENCH_CREDENTIALS) is written by
-- auth_bench.py: `return { "Basic <base64 dev_key:dev_secret>", ... }`.

local credentials = dofile(os.getenv("KEYLEDGER_BENCH_CREDENTIALS"))
local count = #credentials
local body = '{"api":"send","client_ip":"203.0.113.9"}'
local next_thread = 0

function setup(thread)
   next_thread = next_thread + 1
   thread:set("thread_number", next_thread)
end

function init(args)
   -- Each thread draws its own sequence of keys.
   math.randomseed(os.time() * 1000 + (thread_number or 0))
end

function request()
   -- wrk's -H headers (serving_bench.py's "Connection: close"), which a
   -- table of our own would otherwise replace.
   local headers = {}
   for name, value in pairs(wrk.headers) do
      headers[name] = value
   end
   headers["Authorization"] = credentials[math.random(count)]
   headers["Content-Type"] = "application/json"
   return wrk.format("POST", "/v1/auth", headers, body)
end
