-- wrk script of the keys1000 scenario: uniformly random among /api/items/1..1000,
-- requests pre-formatted.
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
function init(args)
  math.randomseed(os.time() + 7919 * (tid or 0))
  reqs = {}
  for i = 1, 1000 do
    reqs[i] = wrk.format("GET", "/api/items/" .. i)
  end
end
function request()
  return reqs[math.random(1000)]
end
