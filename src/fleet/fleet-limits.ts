/**
 * Fleet-wide rate limits without a Redis round trip per request: a sidecar leases a small block of tokens for a
 * (budget, caller) from Redis (fair-share.lua.ts) and admits calls from it locally, as Google's Doorman and Envoy's
 * quota leases do. A lease lives one second, so unused tokens are not hoarded; a refusal is remembered until its
 * Retry-After, so a throttled caller costs no round trips either. Blocks are about 1/20 of the caller's share:
 * roughly 20 leases per second per active (budget, caller) across the whole fleet, whatever the request rate.
 * When Redis cannot answer, `take` says so (undefined) and fleet-admission.ts counts the call in the local backend,
 * exactly as without fleet mode, until Redis is back.
 */
import { LRUCache } from 'lru-cache'
import type { Clock } from '../clock.js'
import type { RateLimitRule } from '../policy/policy.js'
import { FAIR_SHARE_LEASE } from './fair-share.lua.js'
import type { FleetRejections } from './fleet-metrics.js'
import type { RedisLink } from './redis-link.js'

const LEASE_MS = 1_000
const BLOCKS_PER_SECOND = 20
const MAX_KEYS = 10_000
/** A refused sidecar asks again no sooner than this: a throttled caller costs at most 40 round trips a second per
 * sidecar. */
const MIN_RETRY_MS = 25
/** Five fields per caller: a budget hash with more than this many (2,000 callers) was not written by sidecars alone
 *  and is discarded by the script instead of read (fair-share.lua.ts). */
export const MAX_BUDGET_FIELDS = 10_000

interface Lease {
  tokens: number
  expiresAt: number
  blockedUntil: number
  /** Calls seen since the last lease request: the caller's demand, reported with the next one. */
  arrivals: number
  /** The caller's share (per second) at the last lease. */
  share: number
  pending: Promise<boolean> | undefined
}

export class FleetLimits {
  readonly #link: RedisLink
  readonly #clock: Clock
  readonly #rejections: FleetRejections | undefined
  readonly #leases = new LRUCache<string, Lease>({ max: MAX_KEYS })
  /** Lease requests sent to Redis, for the bench's cost figure. */
  roundTrips = 0

  constructor (options: { link: RedisLink, clock: Clock, rejections?: FleetRejections }) {
    this.#link = options.link
    this.#clock = options.clock
    this.#rejections = options.rejections
  }

  /** 0 when admitted, else the milliseconds until a retry may pass; undefined when Redis cannot answer (the caller
   *  counts the call locally). Synchronous while a lease has tokens, a refusal is remembered, or Redis is known
   *  down. */
  take (key: string, caller: string, limit: RateLimitRule): number | undefined | Promise<number | undefined> {
    const id = `${key}\u0000${caller}`
    let lease = this.#leases.get(id)
    if (lease === undefined) {
      lease = { tokens: 0, expiresAt: 0, blockedUntil: 0, arrivals: 0, share: limit.perSecond, pending: undefined }
      this.#leases.set(id, lease)
    }
    lease.arrivals++
    const now = this.#clock.now()
    const local = this.#fromLease(lease, now)
    if (local !== undefined) return local
    // Known down: no promise per call while the link probes in the background.
    if (!this.#link.connected) return undefined
    return this.#leaseAndTake(key, caller, lease, limit)
  }

  async #leaseAndTake (key: string, caller: string, lease: Lease, limit: RateLimitRule): Promise<number | undefined> {
    // Concurrent calls share one lease request; one that finds the new block already spent asks again (bounded).
    for (let tries = 0; tries < 3; tries++) {
      const answered = await this.#renew(key, caller, lease, limit)
      const after = this.#fromLease(lease, this.#clock.now())
      if (after !== undefined) return after
      if (!answered) return undefined
    }
    return Math.ceil(1000 / lease.share)
  }

  /** 0 when a leased token was taken, the wait when refused recently, undefined when Redis must be asked. */
  #fromLease (lease: Lease, now: number): number | undefined {
    if (lease.tokens > 0 && now < lease.expiresAt) {
      lease.tokens--
      return 0
    }
    if (now < lease.blockedUntil) return lease.blockedUntil - now
    return undefined
  }

  async #renew (key: string, caller: string, lease: Lease, limit: RateLimitRule): Promise<boolean> {
    lease.pending ??= this.#lease(key, caller, lease, limit).finally(() => { lease.pending = undefined })
    return await lease.pending
  }

  /** Asks Redis for a block; false when Redis could not answer. */
  async #lease (key: string, caller: string, lease: Lease, limit: RateLimitRule): Promise<boolean> {
    const want = Math.max(1, Math.min(limit.burst, Math.floor(lease.share / BLOCKS_PER_SECOND)))
    const arrivals = lease.arrivals
    lease.arrivals = 0
    this.roundTrips++
    const answer = await this.#link.run((redis) =>
      redis.eval(FAIR_SHARE_LEASE, 1, key, caller, want, arrivals, limit.perSecond, limit.burst, MAX_BUDGET_FIELDS)
    )
    const now = this.#clock.now()
    if (!Array.isArray(answer) || answer.length !== 4 || !answer.every((value) => typeof value === 'number')) {
      lease.arrivals += arrivals
      lease.tokens = 0
      return false
    }
    const [granted, waitMs, shareMilli, discarded] = answer as [number, number, number, number]
    if (discarded === 1) this.#rejections?.count('budget', 'oversized')
    lease.share = Math.max(shareMilli / 1000, 0.001)
    lease.tokens = Math.max(0, granted)
    lease.expiresAt = now + LEASE_MS
    lease.blockedUntil = granted > 0 ? 0 : now + Math.max(MIN_RETRY_MS, waitMs)
    return true
  }
}
