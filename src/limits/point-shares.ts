/**
 * Points budgets counted in this process (docs/points.md): an integration's `budget.pointsPerHour`, divided max-min
 * fairly among its active callers, and a rule's `pointsPerHour`, one caller's own. A call's cost is only known when
 * its answer has ended, so admission asks `room` before the call (does the caller's share still hold a point?) and
 * `charge`s the estimate after it; a share may go into debt by one large answer, and the caller then waits until its
 * share has refilled the debt. The same division as the fleet's script (src/fleet/points-share.lua.ts), with points
 * per second instead of calls per second: fairShare() below is the same division as the script's maxMinShare.
 */
import { LRUCache } from 'lru-cache'

/** A caller that spent or asked within this is active: its demand counts and it gets a share. */
const ACTIVE_MS = 60_000
/** A share's bucket holds a minute of it: a job may spend a minute's share at once, then runs at its share. */
const BUCKET_SECONDS = 60
/** Demand grows by a quarter so that a caller using all it was given can grow. */
const HEADROOM = 1.25
const MAX_POOLS = 10_000
/** More callers than this on one budget share as `other` would: a guard, not a working limit. */
const MAX_CALLERS = 2_000

interface CallerShare {
  /** Points spent, decayed over ACTIVE_MS: demand in points per ACTIVE_MS. */
  demand: number
  tokens: number
  updatedAt: number
  seenAt: number
}

/**
 * Max-min fair division (water-filling) of `rate` among demands; what nobody wants is shared equally. Returns each
 * share in the order given.
 */
export function fairShare (rate: number, demands: readonly number[]): number[] {
  const order = demands.map((demand, index) => ({ demand, index })).sort((a, b) => a.demand - b.demand)
  const shares = new Array<number>(demands.length).fill(0)
  let left = rate
  order.forEach((entry, position) => {
    const alloc = Math.min(entry.demand, left / (order.length - position))
    shares[entry.index] = alloc
    left -= alloc
  })
  return shares.map((share) => share + left / Math.max(1, demands.length))
}

export class PointShares {
  /** Made at the first points budget: lru-cache allocates for all `max` entries up front (local-limits.ts). */
  #pools: LRUCache<string, Map<string, CallerShare>> | undefined

  /** 0 when the caller's share has a point left, else the milliseconds until it will. */
  room (key: string, caller: string, pointsPerHour: number, now: number): number {
    const { state, share } = this.#touch(key, caller, pointsPerHour, now)
    return state.tokens > 0 ? 0 : Math.ceil((1 - state.tokens) / share * 1000)
  }

  charge (key: string, caller: string, pointsPerHour: number, points: number, now: number): void {
    const { state } = this.#touch(key, caller, pointsPerHour, now)
    state.demand += points
    // Debt is bounded by an hour of the budget: no answer makes a caller wait longer than the window.
    state.tokens = Math.max(-pointsPerHour, state.tokens - points)
  }

  /** Brings the caller's demand and bucket to `now` and works out its share (points per second). */
  #touch (key: string, caller: string, pointsPerHour: number, now: number): { state: CallerShare, share: number } {
    this.#pools ??= new LRUCache({ max: MAX_POOLS })
    let pool = this.#pools.get(key)
    if (pool === undefined) { pool = new Map(); this.#pools.set(key, pool) }
    const rate = pointsPerHour / 3600
    let state = pool.get(caller)
    if (state === undefined) {
      if (pool.size >= MAX_CALLERS) this.#dropStale(pool, now, true)
      state = { demand: 0, tokens: Number.NaN, updatedAt: now, seenAt: now }
      pool.set(caller, state)
    }
    this.#dropStale(pool, now, false)
    const callers = [...pool.entries()].filter(([name, entry]) => name === caller || now - entry.seenAt <= ACTIVE_MS)
    const demands = callers.map(([, entry]) => {
      entry.demand *= Math.exp(-Math.max(0, now - entry.updatedAt) / ACTIVE_MS)
      return entry.demand / (ACTIVE_MS / 1000) * HEADROOM
    })
    const shares = fairShare(rate, demands)
    const share = Math.max(shares[callers.findIndex(([name]) => name === caller)] as number, rate / 1000)
    const capacity = Math.max(1, BUCKET_SECONDS * Math.max(share, rate / callers.length))
    const elapsed = Math.max(0, now - state.seenAt) / 1000
    state.tokens = Number.isNaN(state.tokens) ? capacity : Math.min(capacity, state.tokens + elapsed * share)
    for (const [, entry] of callers) entry.updatedAt = now
    state.seenAt = now
    return { state, share }
  }

  /** Callers neither spending nor asking for ACTIVE_MS leave the division; their state is forgotten once it holds no
   *  debt (or after an hour; every one but the newest when `full`), so waiting a minute does not clear a debt. */
  #dropStale (pool: Map<string, CallerShare>, now: number, full: boolean): void {
    for (const [name, entry] of pool) {
      const idle = now - entry.seenAt
      const forgotten = (idle > ACTIVE_MS && entry.tokens >= 0) || idle > 3_600_000
      if (forgotten || (full && pool.size >= MAX_CALLERS)) pool.delete(name)
    }
  }
}
