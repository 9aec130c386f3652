/**
 * Per-caller limits of a policy rule (`rateLimit: {perSecond, burst}`, `maxConcurrent`), kept per (rule, caller):
 * a rule written for `job-*` gives every matching job its own budget. Refusals throw BROKER_ERR_CALLER_RATE_LIMITED
 * with a Retry-After before anything goes upstream; other callers' budgets are never touched.
 * A rule without `maxConcurrent` still has a default one (`limits.callerMaxConcurrent`), counted per caller over all
 * such rules: one caller cannot take every upstream connection of an integration (slow uploads, slow downloads).
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

  readonly #defaultMaxConcurrent: number | undefined

  constructor (options: { clock: Clock, defaultMaxConcurrent?: number }) {
    this.#clock = options.clock
    this.#defaultMaxConcurrent = options.defaultMaxConcurrent
  }

  /** Admits one call or throws; the returned function ends the call (idempotent). */
  admit (caller: string, integration: string, rule: CompiledRule): () => void {
    const maxConcurrent = rule.maxConcurrent ?? this.#defaultMaxConcurrent
    if (rule.rateLimit === undefined && maxConcurrent === undefined) return noop
    const key = `${rule.index}\u0000${caller}`
    // The default is the caller's, whatever rule admitted the call; a rule's own maxConcurrent is kept per rule.
    const slotKey = rule.maxConcurrent === undefined ? `default\u0000${caller}` : key
    const running = this.#inFlight.get(slotKey) ?? 0
    if (maxConcurrent !== undefined && running >= maxConcurrent) {
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
    if (maxConcurrent === undefined) return noop
    this.#inFlight.set(slotKey, running + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      const left = (this.#inFlight.get(slotKey) ?? 1) - 1
      if (left <= 0) this.#inFlight.delete(slotKey)
      else this.#inFlight.set(slotKey, left)
    }
  }
}

function noop (): void {}
