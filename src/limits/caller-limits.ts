/**
 * Per-caller limits of a policy rule (`rateLimit: {perSecond, burst}`, `maxConcurrent`), kept per (rule, caller):
 * a rule written for `job-*` gives every matching job its own budget. Refusals throw BROKER_ERR_CALLER_RATE_LIMITED
 * with a Retry-After before anything goes upstream; other callers' budgets are never touched.
 */
import { LRUCache } from 'lru-cache'
import type { Clock } from '../clock.js'
import { CallerRateLimitedError, withRetryAfter } from '../errors.js'
import type { CompiledRule } from '../policy/policy.js'
import { TokenBucket } from './token-bucket.js'

/** Buckets of callers matched by glob rules are many in theory; an evicted bucket is only a full one in practice. */
const MAX_BUCKETS = 10_000

export class CallerLimits {
  readonly #clock: Clock
  readonly #buckets = new LRUCache<string, TokenBucket>({ max: MAX_BUCKETS })
  /** Calls in flight per (rule, caller); entries are deleted at zero, so the map only holds live calls. */
  readonly #inFlight = new Map<string, number>()

  constructor (options: { clock: Clock }) {
    this.#clock = options.clock
  }

  /** Admits one call or throws; the returned function ends the call (idempotent). */
  admit (caller: string, integration: string, rule: CompiledRule): () => void {
    if (rule.rateLimit === undefined && rule.maxConcurrent === undefined) return noop
    const key = `${rule.index}\u0000${caller}`
    const running = this.#inFlight.get(key) ?? 0
    if (rule.maxConcurrent !== undefined && running >= rule.maxConcurrent) {
      throw withRetryAfter(new CallerRateLimitedError(caller, integration), 1)
    }
    if (rule.rateLimit !== undefined) {
      const now = this.#clock.now()
      let bucket = this.#buckets.get(key)
      if (bucket === undefined) {
        bucket = new TokenBucket(rule.rateLimit.perSecond, rule.rateLimit.burst, now)
        this.#buckets.set(key, bucket)
      }
      const waitMs = bucket.take(now)
      if (waitMs > 0) throw withRetryAfter(new CallerRateLimitedError(caller, integration), waitMs / 1000)
    }
    if (rule.maxConcurrent === undefined) return noop
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
}

function noop (): void {}
