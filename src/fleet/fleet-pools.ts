/**
 * Atlassian's points pools fleet-wide: each pod publishes its latest reading per integration × policy name
 * (src/limits/point-pools.ts) into one hash in the usage slot (keys.ts), and every pod's fleet view reads the hash
 * back, so it shows the freshest reading any pod saw. Field `integration \0 policy`; value `seenAt ms \t JSON of
 * the row` (the pod that saw it, and that pod's own reconciliation). The newest `seenAt` wins, compared inside Redis,
 * so two pods writing at once never put an older reading back. Published with the usage flush (every 10 s, only
 * rows that changed; everything again after an outage), the hash lives an hour past the last write and readings
 * older than an hour are not shown.
 * Bounded like the usage record against someone who can write to Redis: a hash over MAX_FIELDS fields, or of another
 * type, is discarded unread (UNLINK) by the next publish and not read by a view; values over MAX_VALUE_CHARS, ones
 * that do not parse, and ones "seen" over a minute in the future are skipped (counted), and a future-dated one is
 * overwritten by the next real reading.
 */
import type { Clock } from '../clock.js'
import type { PointPools, PoolRow } from '../limits/point-pools.js'
import type { FleetRejections } from './fleet-metrics.js'
import type { FleetKeys } from './keys.js'
import type { RedisLink } from './redis-link.js'

export const MAX_FIELDS = 4_096
const MAX_VALUE_CHARS = 1_024
const TTL_SECONDS = 3_900
const HOUR_MS = 3_600_000
/** Pods' clocks agree within a minute (NTP, as for signed events). */
const SKEW_MS = 60_000

export interface FleetPoolRow extends PoolRow { pod: string }

// KEYS[1] the pools hash. ARGV: the most fields, the longest value, TTL seconds, the latest plausible seenAt (the
// pod's now and the skew, ms: pods' seenAt are their clocks), then per reading its field, seenAt (ms) and value.
// Returns { written, 1 when the hash was discarded else 0 }.
const PUBLISH = `
local kind = redis.call('TYPE', KEYS[1]).ok
local discarded = 0
if (kind ~= 'hash' and kind ~= 'none') or (kind == 'hash' and redis.call('HLEN', KEYS[1]) > tonumber(ARGV[1])) then
  redis.call('UNLINK', KEYS[1])
  discarded = 1
end
-- HGETALL, not HGET: the ACL of deploy/redis/users.acl allows it, and the hash is bounded above
local raw = redis.call('HGETALL', KEYS[1])
local stored = {}
for i = 1, #raw, 2 do stored[raw[i]] = raw[i + 1] end
local written = 0
for i = 5, #ARGV, 3 do
  local old = stored[ARGV[i]]
  local seen = nil
  if old and #old <= tonumber(ARGV[2]) then seen = tonumber(string.match(old, '^(%d+)\\t')) end
  if seen == nil or seen > tonumber(ARGV[4]) or seen < tonumber(ARGV[i + 1]) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1] .. '\\t' .. ARGV[i + 2])
    written = written + 1
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return { written, discarded }
`

// KEYS[1] the pools hash. ARGV: the most fields. Returns { 1 } for a hash too large or of another type, else
// { 0, field, value, ... }.
const READ = `
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'none' then return { 0 } end
if kind ~= 'hash' or redis.call('HLEN', KEYS[1]) > tonumber(ARGV[1]) then return { 1 } end
local answer = redis.call('HGETALL', KEYS[1])
table.insert(answer, 1, 0)
return answer
`

export class FleetPools {
  readonly #link: RedisLink
  readonly #keys: FleetKeys
  readonly #clock: Clock
  readonly #pod: string
  readonly #pools: PointPools
  readonly #rejections: FleetRejections | undefined
  /** What Redis has from this pod: field -> seenAt published. */
  readonly #sent = new Map<string, string>()

  constructor (options: {
    link: RedisLink
    keys: FleetKeys
    clock: Clock
    pod: string
    pools: PointPools
    rejections?: FleetRejections
  }) {
    this.#link = options.link
    this.#keys = options.keys
    this.#clock = options.clock
    this.#pod = options.pod
    this.#pools = options.pools
    this.#rejections = options.rejections
    // Redis may have restarted empty: every reading goes out again.
    this.#link.onUp(() => { this.#sent.clear() })
  }

  /** Publishes the readings that changed since the last publish. Never throws. */
  async publish (): Promise<void> {
    const args: string[] = []
    const changed: Array<[string, string]> = []
    for (const row of this.#pools.rows()) {
      const field = `${row.integration}\u0000${row.policy}`
      if (row.seenAt === '' || this.#sent.get(field) === row.seenAt) continue
      const value = JSON.stringify({ ...row, pod: this.#pod } satisfies FleetPoolRow)
      if (field.length + value.length > MAX_VALUE_CHARS) continue
      args.push(field, String(Date.parse(row.seenAt)), value)
      changed.push([field, row.seenAt])
    }
    if (args.length === 0) return
    const key = this.#keys.pools
    const answer = await this.#link.run(async (redis) =>
      await redis.eval(PUBLISH, 1, key, MAX_FIELDS, MAX_VALUE_CHARS, TTL_SECONDS, this.#clock.now() + SKEW_MS, ...args))
    if (!Array.isArray(answer)) return
    if (answer[1] === 1) this.#rejections?.count('pools', 'oversized')
    for (const [field, seenAt] of changed) this.#sent.set(field, seenAt)
  }

  /** The freshest reading per integration × policy across the fleet, by integration then policy; undefined when
   * Redis cannot answer or the hash is not one the pods wrote (too large, another type). */
  async read (): Promise<FleetPoolRow[] | undefined> {
    const answer = await this.#link.run(async (redis) => await redis.eval(READ, 1, this.#keys.pools, MAX_FIELDS))
    if (!Array.isArray(answer)) return undefined
    const [tooLarge, ...flat] = answer as unknown[]
    if (tooLarge === 1) {
      this.#rejections?.count('pools', 'oversized')
      return undefined
    }
    const now = this.#clock.now()
    const rows: FleetPoolRow[] = []
    let skipped = 0
    for (let index = 0; index + 1 < flat.length; index += 2) {
      const row = parseRow(String(flat[index]), String(flat[index + 1]))
      const seenAt = row === undefined ? NaN : Date.parse(row.seenAt)
      if (row === undefined || !(seenAt <= now + SKEW_MS)) skipped++
      else if (seenAt >= now - HOUR_MS) rows.push(row)
    }
    if (skipped > 0) this.#rejections?.count('pools', 'malformed', skipped)
    const order = (a: string, b: string): number => a < b ? -1 : a > b ? 1 : 0
    return rows.sort((a, b) => order(a.integration, b.integration) || order(a.policy, b.policy))
  }
}

const nullableNumber = (value: unknown): boolean => value === null || (typeof value === 'number' && Number.isFinite(value))
const printable = (value: unknown, most: number): value is string =>
  typeof value === 'string' && value.length <= most && /^[\x20-\x7e]*$/.test(value)

/** One reading as a pod wrote it, or undefined: the field and the row must agree and every figure be plausible. */
function parseRow (field: string, value: string): FleetPoolRow | undefined {
  if (field.length + value.length > MAX_VALUE_CHARS) return undefined
  const tab = value.indexOf('\t')
  let row: Partial<FleetPoolRow>
  try { row = JSON.parse(value.slice(tab + 1)) as Partial<FleetPoolRow> } catch { return undefined }
  if (tab === -1 || typeof row !== 'object' || row === null) return undefined
  const reconciled = row.reconciled
  const plausible = `${String(row.integration)}\u0000${String(row.policy)}` === field &&
    printable(row.integration, 128) && printable(row.policy, 80) && printable(row.pod, 128) &&
    typeof row.enforced === 'boolean' && nullableNumber(row.quota) && nullableNumber(row.windowSeconds) &&
    nullableNumber(row.remaining) && (row.resetAt === null || !Number.isNaN(Date.parse(String(row.resetAt)))) &&
    !Number.isNaN(Date.parse(String(row.seenAt))) && typeof reconciled === 'object' && reconciled !== null &&
    [reconciled.intervals, reconciled.observedPoints, reconciled.estimatedPoints].every((n) => typeof n === 'number')
  if (!plausible) return undefined
  const { integration, policy, enforced, quota, windowSeconds, remaining, resetAt, seenAt, pod } = row as FleetPoolRow
  const { intervals, observedPoints, estimatedPoints } = reconciled
  const reading = { integration, policy, enforced, quota, windowSeconds, remaining, resetAt, seenAt }
  return { ...reading, reconciled: { intervals, observedPoints, estimatedPoints }, pod }
}
