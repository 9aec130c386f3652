import { sharePrelude } from './lua-prelude.js'

/**
 * The Redis side of fleet-wide limits: one hash per budget, one script call per lease. Time is Redis's own (TIME),
 * so pods' clocks never matter. Per caller the hash keeps a demand estimate (arrivals counted in one-second windows,
 * reported by every sidecar with its lease request) and a token bucket. Each call re-divides the budget max-min
 * fairly among callers seen in the last two seconds: callers wanting less than an equal share get what they want
 * (measured demand plus a quarter),
 * the rest split what is left equally, and what nobody wants is shared out too (an idle caller's share goes to the
 * others). The caller's bucket then refills at its share; a lease is one block of `want` tokens (less when the
 * bucket is smaller), granted whole or not at all. A bucket holds the burst in proportion to the larger of the
 * caller's share and an equal one: rates always sum to the budget, while bursts of callers below an equal share may
 * add up to at most twice the budget's burst.
 * Another type under the key makes the script fail: the sidecar then counts locally, it never crashes. The work is
 * bounded whatever someone wrote into the hash: one with more than ARGV[6] fields (five per caller) is discarded
 * before it is read (UNLINK: freed off Redis's main thread), so 400k junk fields cost one HLEN, not a walk that
 * blocks Redis; a caller "seen" in the future (a forged window) is dropped like a stale one; the hash always has a TTL.
 *
 * KEYS[1] budget hash. ARGV: caller, want, arrivals, perSecond, burst, the most fields.
 * Returns { granted, waitMs, share * 1000, 1 when an oversized hash was discarded else 0 }.
 */
export const FAIR_SHARE_LEASE = `${sharePrelude(6)}
local caller, want, arrivals = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local rate, burst = tonumber(ARGV[4]), tonumber(ARGV[5])
local second = math.floor(now / 1000)

-- this caller's arrivals, in the current and the previous one-second window
local w = num('w:' .. caller, second)
local cw, pw = num('c:' .. caller, 0), num('p:' .. caller, 0)
if w ~= second then
  if w == second - 1 then pw = cw else pw = 0 end
  cw = 0
end
cw = cw + arrivals
fields['w:' .. caller], fields['c:' .. caller], fields['p:' .. caller] = tostring(second), tostring(cw), tostring(pw)
redis.call('HSET', KEYS[1], 'w:' .. caller, second, 'c:' .. caller, cw, 'p:' .. caller, pw)

-- active callers and their demand (requests per second)
local active, stale = {}, {}
for name, value in pairs(fields) do
  if string.sub(name, 1, 2) == 'w:' then
    local who, seen = string.sub(name, 3), tonumber(value) or 0
    if seen >= second - 1 and seen <= second then
      local c, p = num('c:' .. who, 0), num('p:' .. who, 0)
      if seen < second then p, c = c, 0 end
      -- a quarter of headroom: a caller using all it was given must be able to grow
      table.insert(active, { who = who, demand = math.max(c, p, 1) * 1.25 })
    elseif seen < second - 10 or seen > second then
      table.insert(stale, who)
    end
  end
end
for _, who in ipairs(stale) do redis.call('HDEL', KEYS[1], 'w:' .. who, 'c:' .. who, 'p:' .. who, 't:' .. who, 'u:' .. who) end

local count = #active
local share = maxMinShare(active, rate, caller)

-- this caller's bucket, refilled at its share; it holds the burst of the larger of its share and an equal one, so a
-- light caller's few calls may bunch (two sidecars asking at once) without refusals; the rate stays its share
local capacity = math.max(1, burst * math.max(share, rate / math.max(count, 1)) / rate)
local tokens = num('t:' .. caller, capacity)
local updated = num('u:' .. caller, now)
tokens = math.min(capacity, tokens + math.max(0, now - updated) / 1000 * share)
-- whole blocks only: a refused sidecar waits until one is there, so a throttled caller costs few round trips
local block = math.max(1, math.min(want, math.floor(capacity)))
local granted, waitMs = 0, 0
if tokens >= block then
  granted = block
  tokens = tokens - block
else
  waitMs = math.ceil((block - tokens) / share * 1000)
end
redis.call('HSET', KEYS[1], 't:' .. caller, tostring(tokens), 'u:' .. caller, now)
redis.call('PEXPIRE', KEYS[1], 60000)
return { granted, waitMs, math.floor(share * 1000), discarded }
`
