/**
 * Atlassian headroom per integration: the rate-limit headers of the latest answer that carried any (enforced
 * `X-RateLimit-*`, `RateLimit-Reason`, `Retry-After` on a 429, or the informational beta family), parsed by
 * rate-limit-headers.ts. One entry per configured integration, overwritten in place: bounded memory. Header values
 * are numbers, dates and a reason from Atlassian; nothing of the request (no token) is kept. Also the hour: the last
 * figures seen in each minute (a minute-ring.ts ring of 60 per integration), so the ops page draws remaining over
 * time.
 */
import type { Clock } from '../clock.js'
import { epochMinute, minuteIso, MinuteRing } from '../minute-ring.js'
import {
  NO_RATE_LIMIT, paramNumber, printable, type RateLimitEntry, type RateLimitState, type UpstreamRateLimit
} from '../atlassian/rate-limit-headers.js'
import { PointPools } from './point-pools.js'

export interface HeadroomEntry {
  integration: string
  /** When this answer came, ISO 8601. */
  seenAt: string
  statusCode: number
  limit: number | null
  remaining: number | null
  /** X-RateLimit-Reset (429 only, per Atlassian), ISO 8601. */
  resetAt: string | null
  nearLimit: boolean | null
  reason: string | null
  retryAfterSeconds: number | null
  /** Beta headers (informational): the policy's quota and window, and the remaining points when Atlassian sends them.
   */
  beta: {
    policy: string | null
    quota: number | null
    windowSeconds: number | null
    remaining: number | null
    resetSeconds: number | null
  } | null
}

/** The last remaining figures an integration's answers showed in one minute (null where a header was absent). */
export interface HeadroomSample {
  /** Start of the minute, ISO 8601. */
  minute: string
  remaining: number | null
  limit: number | null
  betaRemaining: number | null
  betaQuota: number | null
}

/** A minute's slot: the latest entry seen in it. */
interface Sample { entry: HeadroomEntry | undefined }
const emptySample = (): Sample => ({ entry: undefined })

/** Reason strings come from Atlassian; kept short and printable so a header cannot flood the page. */
const clean = (text: string | undefined): string | null => text === undefined ? null : printable(text)

function hasAny (state: RateLimitState): boolean {
  return (
    state.limit !== undefined ||
    state.remaining !== undefined ||
    state.resetAt !== undefined ||
    state.nearLimit !== undefined ||
    state.reason !== undefined ||
    state.policies.length > 0 ||
    state.limits.length > 0
  )
}

const numberParam = (entry: RateLimitEntry | undefined, name: string): number | null => paramNumber(entry, name) ?? null

export class UpstreamHeadroom {
  readonly #clock: Clock
  readonly #known: (integration: string) => boolean
  readonly #latest = new Map<string, HeadroomEntry>()
  /** The points pools per integration × policy name, with the estimate reconciled against them. */
  readonly pools = new PointPools()
  readonly #hour = new Map<string, MinuteRing<Sample>>()

  /** `integrations`: the configured names, or a live check (so integrations added by a reload are kept too). */
  constructor (options: { clock: Clock, integrations: Iterable<string> | ((integration: string) => boolean) }) {
    this.#clock = options.clock
    const integrations = options.integrations
    if (typeof integrations === 'function') this.#known = integrations
    else {
      const names = new Set(integrations)
      this.#known = (integration) => names.has(integration)
    }
  }

  /** Every upstream answer (forwarder's onUpstreamResponse, headers parsed there once); answers without rate-limit
   * headers leave the last entry. */
  observe (integration: string, statusCode: number, rateLimit: UpstreamRateLimit): void {
    // Most answers carry no rate-limit headers: they leave before the integration lookup.
    if (rateLimit === NO_RATE_LIMIT && statusCode !== 429) return
    if (!this.#known(integration)) return
    const now = this.#clock.now()
    this.pools.observe(integration, rateLimit, now)
    const { enforced, beta } = rateLimit
    const withRetry = statusCode === 429 && enforced.retryAfterMs !== undefined
    if (!hasAny(enforced) && !hasAny(beta) && !withRetry) return
    const policy = beta.policies[0]
    const limit = beta.limits.find((entry) => entry.name === policy?.name) ?? beta.limits[0]
    const entry: HeadroomEntry = {
      integration,
      seenAt: new Date(now).toISOString(),
      statusCode,
      limit: enforced.limit ?? null,
      remaining: enforced.remaining ?? null,
      resetAt: enforced.resetAt === undefined ? null : new Date(enforced.resetAt).toISOString(),
      nearLimit: enforced.nearLimit ?? null,
      reason: clean(rateLimit.reason),
      retryAfterSeconds: enforced.retryAfterMs === undefined ? null : Math.ceil(enforced.retryAfterMs / 1000),
      beta: hasAny(beta)
        ? { policy: clean(policy?.name), quota: numberParam(policy, 'q'), windowSeconds: numberParam(policy, 'w'), remaining: numberParam(limit, 'r'), resetSeconds: numberParam(limit, 't') }
        : null
    }
    this.#latest.set(integration, entry)
    let ring = this.#hour.get(integration)
    if (ring === undefined) {
      ring = new MinuteRing({ empty: emptySample })
      this.#hour.set(integration, ring)
    }
    ring.at(epochMinute(now)).entry = entry
  }

  /** An integration's last hour, oldest first: one sample per minute that had rate-limit headers. */
  hour (integration: string): HeadroomSample[] {
    const ring = this.#hour.get(integration)
    if (ring === undefined) return []
    const now = epochMinute(this.#clock.now())
    const samples = ring.last(now)
    const first = now - samples.length + 1
    return samples.flatMap((sample, index) => sample?.entry === undefined
      ? []
      : [{
          minute: minuteIso(first + index),
          remaining: sample.entry.remaining,
          limit: sample.entry.limit,
          betaRemaining: sample.entry.beta?.remaining ?? null,
          betaQuota: sample.entry.beta?.quota ?? null
        }])
  }

  /** The latest entry of each integration that has one, by integration name. */
  entries (): HeadroomEntry[] {
    return [...this.#latest.values()].sort((a, b) =>
      a.integration < b.integration ? -1 : a.integration > b.integration ? 1 : 0
    )
  }
}
