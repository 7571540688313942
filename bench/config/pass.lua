-- wrk script of the pass scenario: every request a path never asked before, under
-- /api/pass/, which no cache route matches (nginx and Varnish pass it too)
-- (run nonce from the argument, thread, counter).
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
function init(args)
  nonce = tonumber(args[1]) or 0
  n = 0
end
function request()
  n = n + 1
  return wrk.format("GET", string.format("/api/pass/%d%03d%010d", nonce, tid, n))
end
