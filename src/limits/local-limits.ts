/**
 * The local backend of admission (limit-backend.ts): every limit counted in this process. A budget is one token
 * bucket per integration (and budget), shared by its callers; a rule's `rateLimit` one bucket per (rule, caller)
 * (the rule by its content, policy.ts ruleKey, so a reload that changes it starts fresh), so a rule written for
 * `job-*` gives every matching job its own; calls in flight are counted per (rule, caller), or per caller for its
 * default share. Without fleet mode this is the backend; in fleet mode it is also what the fleet falls back
 * to while Redis cannot answer, so the limits mean the same with and without Redis.
 */
import { LRUCache } from 'lru-cache'
import type { Clock } from '../clock.js'
import { ruleKey, type CompiledRule, type RateLimitRule } from '../policy/policy.js'
import type { LimitBackend, PointsLimit, Release } from './limit-backend.js'
import { PointShares } from './point-shares.js'
import { TokenBucket } from './token-bucket.js'

/** Buckets of callers matched by glob rules are many in theory; an evicted bucket is only a full one in practice. */
const MAX_BUCKETS = 10_000

export class LocalLimits implements LimitBackend {
  readonly #clock: Clock
  /**
   * One per integration × budget content: a changed budget starts a fresh bucket, an unchanged one keeps its own.
   * Both maps are made at their first use: lru-cache allocates its arrays for all `max` entries up front (about
   * 0.2 MB each), which a broker without budgets or rate limits would hold for nothing (issue 26, footprint).
   */
  #budgets: LRUCache<string, TokenBucket> | undefined
  #rates: LRUCache<string, TokenBucket> | undefined
  /** Calls in flight per slot key; entries are deleted at zero, so the map only holds live calls. */
  readonly #inFlight = new Map<string, number>()
  readonly #points = new PointShares()

  constructor (options: { clock: Clock }) {
    this.#clock = options.clock
  }

  takeBudget (integration: string, _caller: string, budget: RateLimitRule): number {
    const now = this.#clock.now()
    const key = `${integration}\u0000${budget.perSecond}\u0000${budget.burst}`
    this.#budgets ??= new LRUCache({ max: MAX_BUCKETS })
    let bucket = this.#budgets.get(key)
    if (bucket === undefined) {
      bucket = new TokenBucket(budget.perSecond, budget.burst, now)
      this.#budgets.set(key, bucket)
    }
    return bucket.take(now)
  }

  takeRate (rule: CompiledRule, caller: string, rateLimit: RateLimitRule): number {
    const now = this.#clock.now()
    const key = `${ruleKey(rule)}\u0000${caller}`
    this.#rates ??= new LRUCache({ max: MAX_BUCKETS })
    let bucket = this.#rates.get(key)
    if (bucket === undefined) {
      bucket = new TokenBucket(rateLimit.perSecond, rateLimit.burst, now)
      this.#rates.set(key, bucket)
    }
    return bucket.take(now)
  }

  takeSlot (caller: string, rule: CompiledRule | undefined, limit: number): Release | false {
    const key = slotKey(caller, rule)
    const running = this.#inFlight.get(key) ?? 0
    if (running >= limit) return false
    this.#inFlight.set(key, running + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      const left = (this.#inFlight.get(key) ?? 1) - 1
      if (left <= 0) this.#inFlight.delete(key)
      else this.#inFlight.set(key, left)
    }
  }

  pointsRoom (limit: PointsLimit, caller: string): number {
    return this.#points.room(pointsKey(limit, caller), caller, limit.pointsPerHour, this.#clock.now())
  }

  chargePoints (limit: PointsLimit, caller: string, points: number): void {
    this.#points.charge(pointsKey(limit, caller), caller, limit.pointsPerHour, points, this.#clock.now())
  }

  /** Calls in flight counted here for the rule × caller (the caller's default share when `rule` is undefined). */
  inFlight (caller: string, rule: CompiledRule | undefined): number {
    return this.#inFlight.get(slotKey(caller, rule)) ?? 0
  }
}

/** One division per integration (a reload that changes its pointsPerHour applies at once: shares, buckets and debts
 *  follow the new figure), one per rule × caller for a rule's cap. */
function pointsKey (limit: PointsLimit, caller: string): string {
  return limit.rule === undefined
    ? `budget\u0000${limit.integration}`
    : `rule\u0000${ruleKey(limit.rule)}\u0000${caller}`
}

function slotKey (caller: string, rule: CompiledRule | undefined): string {
  return rule === undefined ? `default\u0000${caller}` : `${ruleKey(rule)}\u0000${caller}`
}
