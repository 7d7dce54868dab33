-- errkit ratelimit: one token bucket decision (GCRA with staggered retries).
-- KEYS[1]  bucket key
-- ARGV[1]  token interval in nanoseconds
-- ARGV[2]  burst (bucket capacity)
-- ARGV[3]  cost of this request, 1..burst
-- ARGV[4]  number of stagger slots
-- ARGV[5]  the caller's deadline in Redis time (µs since the epoch); 0: none.
--          Past it the caller has given up: the decision takes nothing.
-- Value: "<tat µs> <denied since last admission>", expiring when the bucket is full.
-- Reply: {allowed 0|1, remaining, retry after µs, reset after µs, now µs},
--        times rounded up; {-1, 0, 0, 0, now µs} when run after the deadline.
if redis.replicate_commands then redis.replicate_commands() end
local iv = tonumber(ARGV[1]) / 1000
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local slots = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local deadline = tonumber(ARGV[5])
if deadline > 0 and now > deadline then return {-1, 0, 0, 0, now} end
local tat, denied = now, 0
local v = redis.call('GET', KEYS[1])
if v then
  local a, b = string.match(v, '^(%S+) (%d+)$')
  if a then
    tat = tonumber(a)
    denied = tonumber(b)
  end
end
if tat < now then tat = now end
local limit = burst * iv
local inc = cost * iv
local newtat = tat + inc
local allowat = newtat - limit
if allowat <= now then
  redis.call('SET', KEYS[1], string.format('%.17g 0', newtat), 'PX', math.ceil((newtat - now) / 1000))
  return {1, math.floor((now - allowat) / iv), 0, math.ceil(newtat - now), now}
end
local step = math.min(inc, limit / slots)
local retry = allowat - now + denied * step
redis.call('SET', KEYS[1], string.format('%.17g %d', tat, (denied + 1) % slots), 'PX', math.ceil((tat - now) / 1000))
local remaining = math.floor((now - (tat - limit)) / iv)
if remaining < 0 then remaining = 0 end
return {0, remaining, math.ceil(retry), math.ceil(tat - now), now}
