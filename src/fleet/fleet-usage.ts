/**
 * Fleet-wide usage, rebuilt from every pod's hour. Each sidecar publishes its own tally (usage/tally.ts) to Redis:
 * per minute one hash shared by the pods (keys.ts), where this pod owns a marker field (`pod \0`, its start in epoch
 * ms: "this pod's minute is here") and one field per caller × integration (`pod \0 caller \0 integration`, the cell
 * as text). Values are absolute (HSET, never HINCRBY), so a write repeated or replayed never double-counts, and each
 * key lives 65 minutes. The current minute is written every 10 s (the injected clock's timer), each closed minute once
 * more after it closes; when Redis lost the data (a restart or FLUSHALL: this pod's `usagePod` key is gone, or the
 * link came back up) the pod writes every minute it still holds, so an empty Redis loses nothing the pods remember.
 * The fleet view reads the hour back (fleet-usage-view.ts); Atlassian's points pools go out and come back beside it
 * (fleet-pools.ts).
 */
import type { Clock, TimerHandle } from '../clock.js'
import { callsIn, encodeCell } from '../usage/tally-cell.js'
import { epochMinute } from '../minute-ring.js'
import { TALLY_MINUTES, type UsageTally } from '../usage/tally.js'
import { fleetSnapshot, readFleetHour, DEFAULT_MAX_CHARS_READ, DEFAULT_MAX_FIELDS_READ, type FleetHour, type FleetUsageSnapshot } from './fleet-usage-view.js'
import type { FleetRejections } from './fleet-metrics.js'
import type { FleetPools } from './fleet-pools.js'
import type { FleetKeys } from './keys.js'
import type { RedisLink } from './redis-link.js'

export const FLUSH_MS = 10_000
/** An hour and a margin: a closed minute, written once just after it closes, is read for the next 59 minutes. */
const TTL_SECONDS = 3_900

export interface FleetUsageOptions {
  link: RedisLink
  keys: FleetKeys
  clock: Clock
  pod: string
  tally: UsageTally
  /** The most fields one read of the fleet's hour returns (then `complete` is false). */
  maxFieldsRead?: number
  /** The most characters (fields and values) one read returns. */
  maxCharsRead?: number
  rejections?: FleetRejections
  /** Atlassian's points pools, published with each flush and read with each view. */
  pools?: FleetPools
}

export class FleetUsage {
  readonly #link: RedisLink
  readonly #keys: FleetKeys
  readonly #clock: Clock
  readonly #pod: string
  readonly #tally: UsageTally
  readonly #maxFieldsRead: number
  readonly #maxCharsRead: number
  readonly #rejections: FleetRejections | undefined
  readonly #pools: FleetPools | undefined
  /** The last read of the fleet's hour (tests check its bounds). */
  lastRead: FleetHour | undefined
  /** Closed minutes this pod has written since it last found its data in Redis. */
  readonly #written = new Set<number>()
  #queue: Promise<void> = Promise.resolve()
  #timer: TimerHandle | undefined

  constructor (options: FleetUsageOptions) {
    this.#link = options.link
    this.#keys = options.keys
    this.#clock = options.clock
    this.#pod = options.pod
    this.#tally = options.tally
    this.#maxFieldsRead = options.maxFieldsRead ?? DEFAULT_MAX_FIELDS_READ
    this.#maxCharsRead = options.maxCharsRead ?? DEFAULT_MAX_CHARS_READ
    this.#rejections = options.rejections
    this.#pools = options.pools
    // Back after an outage: Redis may have restarted empty, so the whole hour goes out again, now.
    this.#link.onUp(() => {
      this.#written.clear()
      void this.flush()
    })
  }

  start (): void {
    this.#timer = this.#clock.setTimer(() => {
      this.start()
      void this.flush()
    }, FLUSH_MS)
  }

  async stop (): Promise<void> {
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer)
    this.#timer = undefined
    await this.flush()
  }

  /** Publishes this pod's hour (what is not in Redis yet); one flush at a time. Never throws. */
  async flush (): Promise<void> {
    this.#queue = this.#queue.then(async () => {
      await this.#publish()
      await this.#pools?.publish()
    })
    await this.#queue
  }

  async snapshot (): Promise<FleetUsageSnapshot> {
    await this.flush()
    const now = this.#clock.now()
    const minute = epochMinute(now)
    const bounds = { maxFields: this.#maxFieldsRead, maxChars: this.#maxCharsRead }
    const hour = await readFleetHour(this.#link, this.#keys, minute, bounds)
    this.lastRead = hour
    if (hour !== undefined && hour.skipped > 0) this.#rejections?.count('usage', 'oversized-field', hour.skipped)
    if (hour?.truncated === true) this.#rejections?.count('usage', 'read-capped')
    const pools = await this.#pools?.read()
    return { ...fleetSnapshot(hour, { now, flushMs: FLUSH_MS }), ...(pools === undefined ? {} : { pools }) }
  }

  async #publish (): Promise<void> {
    const now = this.#tally.minute()
    const startedAt = this.#tally.startedAt
    const first = Math.max(now - TALLY_MINUTES + 1, epochMinute(startedAt))
    for (const minute of this.#written) if (minute < first) this.#written.delete(minute)
    const minutes: number[] = []
    for (let minute = first; minute <= now; minute++) {
      if (minute === now || !this.#written.has(minute)) minutes.push(minute)
    }
    const podKey = this.#keys.usagePod(this.#pod)
    const sinceKey = this.#keys.usageSince
    const replies = await this.#link.run(async (redis) => {
      const multi = redis.multi()
        .set(podKey, String(startedAt), 'EX', TTL_SECONDS, 'NX')
        .expire(podKey, TTL_SECONDS)
        .set(sinceKey, String(this.#clock.now()), 'EX', TTL_SECONDS, 'NX')
        .expire(sinceKey, TTL_SECONDS)
      for (const minute of minutes) {
        const key = this.#keys.usage(minute)
        multi.hset(key, this.#fields(minute)).expire(key, TTL_SECONDS)
      }
      return await multi.exec()
    })
    // Redis down, slow or refusing: nothing is marked written, the next flush tries again.
    if (replies === undefined || replies === null || replies.some(([error]) => error !== null)) return
    for (const minute of minutes) if (minute < now) this.#written.add(minute)
    const podKeyWasGone = replies[0]?.[1] === 'OK'
    if (podKeyWasGone && minutes.length < now - first + 1) {
      // Redis lost what this pod had published (restarted empty, flushed): write every minute it still holds.
      this.#written.clear()
      await this.#publish()
    }
  }

  #fields (minute: number): Record<string, string> {
    const fields: Record<string, string> = { [`${this.#pod}\u0000`]: String(this.#tally.startedAt) }
    for (const series of this.#tally.series()) {
      const cell = series.cell(minute)
      if (cell !== undefined && callsIn(cell) > 0) fields[`${this.#pod}\u0000${series.caller}\u0000${series.integration}`] = encodeCell(cell)
    }
    return fields
  }
}
