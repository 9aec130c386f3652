/**
 * Holds an integration's traffic after a points-quota 429 (`RateLimit-Reason: *-quota-*`): Atlassian's guidance for
 * quotas is "Pause all API requests until the window resets", and every caller shares the one service-account budget,
 * so letting each caller find out for itself only burns more of it. Until the reset, calls are answered locally with
 * 429 BROKER_ERR_UPSTREAM_RATE_LIMITED and a Retry-After; afterwards traffic resumes by itself.
 * Burst and per-issue 429s are not held here: they concern one endpoint or issue, and go back to the caller.
 */
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import { UpstreamRateLimitedError, withRetryAfter } from '../errors.js'
import { isQuotaReason, type UpstreamRateLimit } from '../atlassian/rate-limit-headers.js'

/** When a quota 429 names no reset at all. */
const DEFAULT_HOLD_MS = 60_000
/** The quota window is an hour (`w=3600`); a reset further out than this is treated as a bad header. */
const MAX_HOLD_MS = 3_600_000

/** Holds kept for the ops page's hour (bands on its chart): far more than an hour of quota 429s makes. */
const HOLD_HISTORY = 50

/** One hold: from when, until when (epoch ms); extending a hold moves its end, a hold after a gap is another. */
export interface HoldSpan { integration: string, from: number, until: number }

/** Fleet mode (src/fleet/shared-hold.ts): tells every sidecar about a hold this one started. */
export interface SharedHold {
  announce (integration: string, holdMs: number): void
}

export class QuotaHold {
  readonly #clock: Clock
  readonly #logger: Logger
  readonly #shared: SharedHold | undefined
  /** Integration -> epoch ms until which its traffic is held. */
  readonly #until = new Map<string, number>()
  readonly #spans: HoldSpan[] = []

  constructor (options: { clock: Clock, logger: Logger, shared?: SharedHold }) {
    this.#clock = options.clock
    this.#logger = options.logger
    this.#shared = options.shared
  }

  /** A hold another sidecar started (fleet mode): same effect, announced by it, so logged quietly here. */
  adopt (integration: string, holdMs: number): void {
    const until = this.#clock.now() + Math.min(holdMs, MAX_HOLD_MS)
    if (holdMs <= 0 || until <= (this.#until.get(integration) ?? 0)) return
    this.#start(integration, until)
    this.#logger.info({ integration, resumeAt: new Date(until).toISOString() }, 'another sidecar hit Atlassian\'s quota: holding this integration\'s traffic too')
  }

  /** Throws when the integration is held. Called by admission before anything goes upstream. */
  check (integration: string): void {
    const until = this.#until.get(integration)
    if (until === undefined) return
    const now = this.#clock.now()
    if (now >= until) {
      this.#until.delete(integration)
      this.#logger.info({ integration }, 'Atlassian quota window reset: traffic resumes')
      return
    }
    throw withRetryAfter(new UpstreamRateLimitedError(integration), (until - now) / 1000)
  }

  /** Reads every upstream answer (its rate-limit headers as the forwarder parsed them); a quota 429 starts (or extends)
   * the hold. */
  observe (integration: string, statusCode: number, rateLimit: UpstreamRateLimit): void {
    if (statusCode !== 429) return
    const { enforced } = rateLimit
    if (!isQuotaReason(enforced.reason)) return
    const now = this.#clock.now()
    // The later of Retry-After and X-RateLimit-Reset: the reset is an absolute time on Atlassian's clock, Retry-After
    // is immune to clock skew; honouring both never sends early.
    const candidates = [enforced.retryAfterMs === undefined ? undefined : now + enforced.retryAfterMs, enforced.resetAt]
      .filter((at): at is number => at !== undefined && at > now)
    const until = Math.min(now + MAX_HOLD_MS, candidates.length > 0 ? Math.max(...candidates) : now + DEFAULT_HOLD_MS)
    if (until <= (this.#until.get(integration) ?? 0)) return
    this.#start(integration, until)
    this.#shared?.announce(integration, until - now)
    this.#logger.warn({ integration, reason: enforced.reason, resumeAt: new Date(until).toISOString() }, 'Atlassian quota exhausted: holding this integration\'s traffic until the window resets')
  }

  #start (integration: string, until: number): void {
    this.#until.set(integration, until)
    const now = this.#clock.now()
    const open = this.#spans.find((span) => span.integration === integration && span.until > now)
    if (open !== undefined) open.until = until
    else {
      this.#spans.push({ integration, from: now, until })
      if (this.#spans.length > HOLD_HISTORY) this.#spans.shift()
    }
  }

  /** The holds that were active at any time since `since` (epoch ms), oldest first. */
  holds (since: number): HoldSpan[] {
    return this.#spans.filter((span) => span.until > since).map((span) => ({ ...span }))
  }

  /** The hold's end for an integration (epoch ms), if one is active. */
  heldUntil (integration: string): number | undefined {
    const until = this.#until.get(integration)
    return until !== undefined && until > this.#clock.now() ? until : undefined
  }
}
