-- wrk script of the miss and pass scenarios: every request a path never asked before
-- (run nonce from the first argument, thread, counter), under the prefix given as the
-- second argument (default /api/items/).
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
function init(args)
  nonce = tonumber(args[1]) or 0
  prefix = args[2] or "/api/items/"
  n = 0
end
function request()
  n = n + 1
  return wrk.format("GET", string.format("%s%d%03d%010d", prefix, nonce, tid, n))
end
