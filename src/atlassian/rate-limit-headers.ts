/**
 * Atlassian's rate-limit headers, parsed case-insensitively into one shape
 * (developer.atlassian.com/cloud/jira/platform/
 * rate-limiting; docs/reference/atlassian.md section 5). Pure: no I/O, `now` is passed in.
 *
 * Enforced: `Retry-After`, `X-RateLimit-{Limit,Remaining,Reset,NearLimit}`, `RateLimit-Reason`, `RateLimit[-Policy]`.
 * Beta (informational, "the Beta- prefix is dropped once enforced"): `Beta-Retry-After`, `Beta-RateLimit[-Policy]`,
 * `Beta-RateLimit-Reason` and the legacy `X-Beta-RateLimit-{Limit,Remaining,Reset,NearLimit,Reason}`.
 * Production answers use spellings such as `X-Ratelimit-Limit` and `Beta-Ratelimit-Policy`, hence the lower-casing.
 *
 * The one parser of an answer's rate-limit headers: the forwarder's send (src/upstream/upstream-send.ts) parses each
 * answer once, and the quota hold, the headroom, the retry policy, the metrics and the call record all read that one
 * frozen UpstreamRateLimit, so they cannot disagree on what Atlassian said (issue 23, item 9).
 */
import { parseStructuredList, type RateLimitEntry } from './structured-list.js'

export type HeaderBag = Readonly<Record<string, string | readonly string[] | number | undefined>>

export type { RateLimitEntry }

export interface RateLimitState {
  /** From `Retry-After` (delta-seconds or an HTTP-date, RFC 9110 section 10.2.3), in milliseconds from `now`. */
  readonly retryAfterMs: number | undefined
  readonly limit: number | undefined
  readonly remaining: number | undefined
  /** Epoch ms when the window resets. */
  readonly resetAt: number | undefined
  readonly nearLimit: boolean | undefined
  readonly reason: string | undefined
  /** `RateLimit-Policy` entries: `q` (quota) and `w` (window seconds). */
  readonly policies: readonly RateLimitEntry[]
  /** `RateLimit` entries: `r` (remaining, only near the limit) and `t` (seconds to reset). */
  readonly limits: readonly RateLimitEntry[]
}

/** One answer's rate-limit headers, parsed once and frozen: what every consumer of that answer reads. */
export interface UpstreamRateLimit {
  /** The headers Atlassian enforces: what the quota hold and the retry policy act on. */
  readonly enforced: RateLimitState
  /** The informational `Beta-` family. */
  readonly beta: RateLimitState
  /**
   * The reason to report (metrics label, headroom, call record): the enforced `RateLimit-Reason`, else the beta one.
   * Acting on a reason (holding, not retrying) reads `enforced.reason` only: a beta header describes what would happen
   * "if enforcement were active".
   */
  readonly reason: string | undefined
}

/** One points pool as one answer described it: `RateLimit-Policy` (`q`, `w`) joined with `RateLimit` (`r`, `t`) by the
 *  policy's name (`global-app-quota`, `tenant-app-quota`, ...). */
export interface PoolReading {
  readonly name: string
  /** From the enforced family (`RateLimit-*`), else the beta one. */
  readonly enforced: boolean
  readonly quota: number | undefined
  readonly windowSeconds: number | undefined
  /** `r`: "appears only when near the limit". */
  readonly remaining: number | undefined
  readonly resetSeconds: number | undefined
}

/** A header entry's numeric parameter (`q`, `w`, `r`, `t`), or undefined when absent or not a count. */
export const paramNumber = (entry: RateLimitEntry | undefined, name: string): number | undefined => {
  const value = entry?.params[name]
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined
}

/** Text from Atlassian's headers (a reason, a policy name) for display: printable ASCII, at most 80 characters. */
export const printable = (text: string): string => text.replace(/[^\x20-\x7e]/g, '').slice(0, 80)

/** The pools this answer names, enforced ones first; a name in both families is read from the enforced one. */
export function poolReadings (rateLimit: UpstreamRateLimit): PoolReading[] {
  const readings: PoolReading[] = []
  const seen = new Set<string>()
  for (const [state, enforced] of [[rateLimit.enforced, true], [rateLimit.beta, false]] as const) {
    const names = [...state.policies, ...state.limits].map((entry) => entry.name)
    for (const name of names) {
      if (seen.has(name)) continue
      seen.add(name)
      const policy = state.policies.find((entry) => entry.name === name)
      const limit = state.limits.find((entry) => entry.name === name)
      readings.push({
        name,
        enforced,
        quota: paramNumber(policy, 'q'),
        windowSeconds: paramNumber(policy, 'w'),
        remaining: paramNumber(limit, 'r'),
        resetSeconds: paramNumber(limit, 't')
      })
    }
  }
  return readings
}

/** Every `RateLimit-Reason` Atlassian documents or has been seen sending; anything else is `other` in metrics. */
export const KNOWN_RATE_LIMIT_REASONS: readonly string[] = [
  'jira-quota-global-based', 'jira-quota-tenant-based', 'jira-burst-based', 'jira-per-issue-on-write',
  'confluence-quota-global-based', 'confluence-quota-tenant-based',
  // undocumented, observed in production (community threads cited in the reference)
  'jira-cost-based', 'jira-max-concurrent-threads-across-all-instances-per-tenant-per-user'
]
const KNOWN = new Set(KNOWN_RATE_LIMIT_REASONS)

/** A bounded label value: a known reason, `none` when the 429 carried no reason, else `other`. */
export function normaliseReason (reason: string | undefined): string {
  if (reason === undefined || reason === '') return 'none'
  const lower = reason.toLowerCase()
  return KNOWN.has(lower) ? lower : 'other'
}

/** Points-based quotas: "Pause all API requests until the window resets" (rate-limiting doc, per-reason guidance). */
export function isQuotaReason (reason: string | undefined): boolean {
  return reason !== undefined && /-quota-/i.test(reason)
}

/** The header names of one family, in the order they are tried. */
interface Spellings {
  retryAfter: readonly string[]
  limit: string
  remaining: string
  reset: string
  nearLimit: string
  reason: readonly string[]
  policy: string
  limits: string
}

const ENFORCED: Spellings = {
  retryAfter: ['retry-after'],
  limit: 'x-ratelimit-limit',
  remaining: 'x-ratelimit-remaining',
  reset: 'x-ratelimit-reset',
  nearLimit: 'x-ratelimit-nearlimit',
  reason: ['ratelimit-reason', 'x-ratelimit-reason'],
  policy: 'ratelimit-policy',
  limits: 'ratelimit'
}

const BETA: Spellings = {
  retryAfter: ['beta-retry-after', 'x-beta-retry-after'],
  limit: 'x-beta-ratelimit-limit',
  remaining: 'x-beta-ratelimit-remaining',
  reset: 'x-beta-ratelimit-reset',
  nearLimit: 'x-beta-ratelimit-nearlimit',
  reason: ['beta-ratelimit-reason', 'x-beta-ratelimit-reason'],
  policy: 'beta-ratelimit-policy',
  limits: 'beta-ratelimit'
}

/** Every name either family reads: an answer without any of them (most 200s) is not parsed further. */
const RATE_LIMIT_NAMES: ReadonlySet<string> = new Set([ENFORCED, BETA].flatMap((names) => [
  ...names.retryAfter, ...names.reason, names.limit, names.remaining, names.reset, names.nearLimit, names.policy,
  names.limits
]))

const ABSENT: RateLimitState = Object.freeze({
  retryAfterMs: undefined,
  limit: undefined,
  remaining: undefined,
  resetAt: undefined,
  nearLimit: undefined,
  reason: undefined,
  policies: Object.freeze([]),
  limits: Object.freeze([])
})

/** Shared by every answer without rate-limit headers: no allocation on the common path. */
export const NO_RATE_LIMIT: UpstreamRateLimit = Object.freeze({ enforced: ABSENT, beta: ABSENT, reason: undefined })

function parseFamily (lower: Map<string, string>, names: Spellings, now: number): RateLimitState {
  const first = (candidates: readonly string[]): string | undefined =>
    candidates.map((name) => lower.get(name)).find((value) => value !== undefined)
  return Object.freeze({
    retryAfterMs: parseRetryAfter(first(names.retryAfter), now),
    limit: parseCount(lower.get(names.limit)),
    remaining: parseCount(lower.get(names.remaining)),
    resetAt: parseReset(lower.get(names.reset), now),
    nearLimit: parseBoolean(lower.get(names.nearLimit)),
    reason: nonEmpty(first(names.reason)),
    policies: parseEntries(lower.get(names.policy)),
    limits: parseEntries(lower.get(names.limits))
  })
}

/** `now` (epoch ms) turns `Retry-After` dates and relative resets into the shape above. */
export function parseRateLimitHeaders (headers: HeaderBag, now: number): UpstreamRateLimit {
  const lower = rateLimitHeaders(headers)
  if (lower === undefined) return NO_RATE_LIMIT
  const enforced = parseFamily(lower, ENFORCED, now)
  const beta = parseFamily(lower, BETA, now)
  return Object.freeze({ enforced, beta, reason: enforced.reason ?? beta.reason })
}

/** The rate-limit headers only, by lower-cased name (repeated names joined), or undefined when there are none. */
function rateLimitHeaders (headers: HeaderBag): Map<string, string> | undefined {
  let map: Map<string, string> | undefined
  for (const name in headers) {
    const value = headers[name]
    if (value === undefined) continue
    const key = name.toLowerCase()
    if (!RATE_LIMIT_NAMES.has(key)) continue
    const text = Array.isArray(value) ? value.join(', ') : String(value)
    map ??= new Map()
    const previous = map.get(key)
    map.set(key, previous === undefined ? text : `${previous}, ${text}`)
  }
  return map
}

function nonEmpty (value: string | undefined): string | undefined {
  const trimmed = value?.trim()
  return trimmed === undefined || trimmed === '' ? undefined : trimmed
}

function parseCount (value: string | undefined): number | undefined {
  const text = nonEmpty(value)
  if (text === undefined || !/^\d+$/.test(text)) return undefined
  return Number(text)
}

function parseBoolean (value: string | undefined): boolean | undefined {
  const text = nonEmpty(value)?.toLowerCase()
  return text === 'true' ? true : text === 'false' ? false : undefined
}

/** delta-seconds or an HTTP-date; a past date means "now" (0), garbage means absent. */
export function parseRetryAfter (value: string | undefined, now: number): number | undefined {
  const text = nonEmpty(value)
  if (text === undefined) return undefined
  // A repeated header arrives joined with ", "; the first delta counts. (An HTTP-date has a comma of its own.)
  const delta = /^(\d+(?:\.\d+)?)\s*(?:,|$)/.exec(text)?.[1]
  if (delta !== undefined) return Math.round(Number(delta) * 1000)
  const at = Date.parse(text)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

/**
 * Documented as an ISO 8601 timestamp. Seen in the wild as epoch seconds, and (beta) as seconds to wait; both are
 * accepted: a number above 10^9 is epoch seconds (above 10^12 epoch ms), a smaller one is seconds from now.
 */
function parseReset (value: string | undefined, now: number): number | undefined {
  const text = nonEmpty(value)
  if (text === undefined) return undefined
  if (/^\d+(\.\d+)?$/.test(text)) {
    const number = Number(text)
    if (number > 1e12) return Math.round(number)
    if (number > 1e9) return Math.round(number * 1000)
    return now + Math.round(number * 1000)
  }
  const at = Date.parse(text)
  return Number.isNaN(at) ? undefined : at
}

function parseEntries (value: string | undefined): readonly RateLimitEntry[] {
  const text = nonEmpty(value)
  return text === undefined ? ABSENT.policies : parseStructuredList(text)
}
