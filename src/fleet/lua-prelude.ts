/**
 * The opening and the division the fleet's share scripts (fair-share.lua.ts, points-share.lua.ts) have in common,
 * owned once and concatenated into each. The opening: Redis's own time (`now`, ms), the bound (a hash over the most
 * fields is discarded unread with UNLINK, freed off Redis's main thread; `discarded` says so), the hash read into
 * `fields` and `num (name, default)`. The division: `maxMinShare (active, rate, caller)`, max-min fair (water-filling)
 * over `{ who, demand }` entries, leftovers shared equally: the caller's share of `rate`.
 */

/** `boundArg`: the ARGV index of the most fields KEYS[1] may have. */
export function sharePrelude (boundArg: number): string {
  return `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local discarded = 0
if redis.call('HLEN', KEYS[1]) > tonumber(ARGV[${boundArg}]) then
  redis.call('UNLINK', KEYS[1])
  discarded = 1
end
local raw = redis.call('HGETALL', KEYS[1])
local fields = {}
for i = 1, #raw, 2 do fields[raw[i]] = raw[i + 1] end
local function num (name, default) return tonumber(fields[name]) or default end

-- max-min fair division (water-filling): callers wanting less than an equal share get what they want, the rest
-- split what is left equally, and what nobody wants is shared out equally too
local function maxMinShare (active, rate, caller)
  table.sort(active, function (a, b) return a.demand < b.demand end)
  local left, count, given = rate, #active, 0
  for i, entry in ipairs(active) do
    local alloc = math.min(entry.demand, left / (count - i + 1))
    left = left - alloc
    if entry.who == caller then given = alloc end
  end
  return given + left / count
end
`
}
