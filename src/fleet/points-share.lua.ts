import { sharePrelude } from './lua-prelude.js'

/**
 * The Redis side of fleet-wide points budgets (docs/points.md): one hash per points budget, one script call per
 * charge. The same division as this process's (src/limits/point-shares.ts): per caller a demand (points spent,
 * decayed over a minute), the max-min fair division of the budget's points per second among callers active in the
 * last minute (leftovers shared equally), and a bucket that refills at the caller's share, holds a minute of it, and
 * may go into debt (bounded by an hour of the budget) because a call's points are charged after its answer. Time is
 * Redis's own (TIME). Bounded like fair-share.lua.ts: a hash with more than ARGV[4] fields is discarded unread, and it
 * always has a TTL. One key per call: the single-slot property holds on Redis Cluster.
 *
 * KEYS[1] points hash. ARGV: caller, points to charge (0: only read), points per hour, the most fields.
 * Returns { tokens * 1000, share * 1000000, 1 when an oversized hash was discarded else 0 }.
 */
export const POINTS_SHARE = `${sharePrelude(4)}
local caller, charge, perHour = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local rate = perHour / 3600

-- active callers (seen within a minute, the caller itself included) and their decayed demand in points per second
local active = {}
fields['s:' .. caller] = fields['s:' .. caller] or tostring(now)
for name, value in pairs(fields) do
  if string.sub(name, 1, 2) == 's:' then
    local who, seen = string.sub(name, 3), tonumber(value) or 0
    local idle = now - seen
    if who == caller or (idle <= 60000 and idle >= 0) then
      local demand = num('d:' .. who, 0) * math.exp(-math.max(0, now - num('u:' .. who, now)) / 60000)
      -- this charge counts in the caller's demand at once: the share returned is the one its next calls get
      if who == caller then demand = demand + charge end
      table.insert(active, { who = who, demand = demand / 60 * 1.25 })
    elseif idle > 3600000 or idle < 0 or num('t:' .. who, 0) >= 0 then
      redis.call('HDEL', KEYS[1], 's:' .. who, 'd:' .. who, 'u:' .. who, 't:' .. who)
    end
  end
end
local count = #active
local share = math.max(maxMinShare(active, rate, caller), rate / 1000)

local capacity = math.max(1, 60 * math.max(share, rate / count))
local seen = num('s:' .. caller, now)
local tokens = num('t:' .. caller, capacity)
tokens = math.min(capacity, tokens + math.max(0, now - seen) / 1000 * share)
tokens = math.max(-perHour, tokens - charge)
local demand = num('d:' .. caller, 0) * math.exp(-math.max(0, now - num('u:' .. caller, now)) / 60000) + charge
redis.call('HSET', KEYS[1], 's:' .. caller, now, 't:' .. caller, tostring(tokens), 'd:' .. caller, tostring(demand), 'u:' .. caller, now)
redis.call('PEXPIRE', KEYS[1], 3660000)
return { math.floor(tokens * 1000), math.floor(share * 1000000), discarded }
`
