/**
 * Atlassian's points pools as last seen, per integration × policy name (`global-app-quota`, `tenant-app-quota`, ...),
 * from the `RateLimit[-Policy]` / `Beta-RateLimit[-Policy]` entries the forwarder parsed once
 * (src/atlassian/rate-limit-headers.ts, poolReadings), and how the broker's own estimate compares with what the pool
 * moved: between two answers that both carry `r` in the same window, the pool went down by `r1 - r2` while this
 * process estimated `estimatedPoints` for its own calls in between (docs/points.md says when the two cannot agree).
 * Bounded: configured integrations only (the headroom's check), at most MAX_POOLS policy names each.
 */
import { poolReadings, printable, type UpstreamRateLimit } from '../atlassian/rate-limit-headers.js'

export const MAX_POOLS = 8

export interface PoolRow {
  integration: string
  policy: string
  /** Whether the enforced headers named it (else the beta ones). */
  enforced: boolean
  quota: number | null
  windowSeconds: number | null
  /** Points left, as the latest answer that said so (`r` is only sent near the limit). */
  remaining: number | null
  /** When the window resets, ISO 8601, from the latest `t`. */
  resetAt: string | null
  seenAt: string
  /** Since start, over intervals between two readings of `r` in one window: what the pool moved, and what this
   * process estimated for its own calls in those intervals. */
  reconciled: { intervals: number, observedPoints: number, estimatedPoints: number }
}

interface Pool {
  /** The row but its times, kept as epoch ms and written as ISO text only when rows() is read (the ops page). */
  row: Omit<PoolRow, 'resetAt' | 'seenAt'>
  seenAt: number
  resetAt: number | undefined
  /** The last `r` and when its window resets (epoch ms), to tell a new window from the same one. */
  lastRemaining: number | undefined
  lastResetAt: number | undefined
  /** This process's estimate for the integration when `lastRemaining` was read. */
  estimateAtLast: number
}

/** A window that reset between two readings shows `r` going up; resets a second apart are the same window. */
const SAME_WINDOW_MS = 2_000

export class PointPools {
  readonly #pools = new Map<string, Map<string, Pool>>()
  /** Points this process estimated per integration since start: charged when each call's answer has ended. */
  readonly #estimated = new Map<string, number>()

  charge (integration: string, points: number): void {
    if (points > 0) this.#estimated.set(integration, (this.#estimated.get(integration) ?? 0) + points)
  }

  /** `integration` is known configured (the headroom checked). */
  observe (integration: string, rateLimit: UpstreamRateLimit, now: number): void {
    const readings = poolReadings(rateLimit)
    if (readings.length === 0) return
    let pools = this.#pools.get(integration)
    if (pools === undefined) { pools = new Map(); this.#pools.set(integration, pools) }
    const estimate = this.#estimated.get(integration) ?? 0
    for (const reading of readings) {
      let pool = pools.get(reading.name)
      if (pool === undefined) {
        if (pools.size >= MAX_POOLS) continue
        pool = {
          row: {
            integration,
            policy: printable(reading.name),
            enforced: reading.enforced,
            quota: null,
            windowSeconds: null,
            remaining: null,
            reconciled: { intervals: 0, observedPoints: 0, estimatedPoints: 0 }
          },
          seenAt: now,
          resetAt: undefined,
          lastRemaining: undefined,
          lastResetAt: undefined,
          estimateAtLast: 0
        }
        pools.set(reading.name, pool)
      }
      const row = pool.row
      row.enforced = reading.enforced
      pool.seenAt = now
      row.quota = reading.quota ?? row.quota
      row.windowSeconds = reading.windowSeconds ?? row.windowSeconds
      const resetAt = reading.resetSeconds === undefined ? undefined : now + reading.resetSeconds * 1000
      if (resetAt !== undefined) pool.resetAt = resetAt
      if (reading.remaining === undefined) continue
      row.remaining = reading.remaining
      const sameReset = resetAt === undefined || pool.lastResetAt === undefined ||
        Math.abs(resetAt - pool.lastResetAt) <= SAME_WINDOW_MS
      const sameWindow = pool.lastRemaining !== undefined && reading.remaining <= pool.lastRemaining && sameReset
      if (sameWindow) {
        row.reconciled.intervals++
        row.reconciled.observedPoints += (pool.lastRemaining as number) - reading.remaining
        row.reconciled.estimatedPoints += estimate - pool.estimateAtLast
      }
      pool.lastRemaining = reading.remaining
      pool.lastResetAt = resetAt
      pool.estimateAtLast = estimate
    }
  }

  /** Every pool seen, by integration then policy name. */
  rows (): PoolRow[] {
    const rows = [...this.#pools.values()].flatMap((pools) => [...pools.values()].map((pool): PoolRow => ({
      ...pool.row,
      resetAt: pool.resetAt === undefined ? null : new Date(pool.resetAt).toISOString(),
      seenAt: new Date(pool.seenAt).toISOString(),
      reconciled: { ...pool.row.reconciled }
    })))
    const order = (a: string, b: string): number => a < b ? -1 : a > b ? 1 : 0
    return rows.sort((a, b) => order(a.integration, b.integration) || order(a.policy, b.policy))
  }
}
