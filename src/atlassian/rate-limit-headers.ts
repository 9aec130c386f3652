/**
 * Atlassian's rate-limit headers, parsed case-insensitively into one shape
 * (developer.atlassian.com/cloud/jira/platform/
 * rate-limiting; docs/reference/atlassian.md section 5). Pure: no I/O, `now` is passed in.
 *
 * Enforced: `Retry-After`, `X-RateLimit-{Limit,Remaining,Reset,NearLimit}`, `RateLimit-Reason`, `RateLimit[-Policy]`.
 * Beta (informational, "the Beta- prefix is dropped once enforced"): `Beta-Retry-After`, `Beta-RateLimit[-Policy]`,
 * `Beta-RateLimit-Reason` and the legacy `X-Beta-RateLimit-{Limit,Remaining,Reset,NearLimit,Reason}`.
 * Production answers use spellings such as `X-Ratelimit-Limit` and `Beta-Ratelimit-Policy`, hence the lower-casing.
 */

export type HeaderBag = Readonly<Record<string, string | readonly string[] | number | undefined>>

/** One entry of a structured `RateLimit`/`RateLimit-Policy` header: `"global-app-quota";q=65000;w=3600`. */
export interface RateLimitEntry {
  name: string
  params: Readonly<Record<string, number | string | true>>
}

export interface RateLimitState {
  /** From `Retry-After` (delta-seconds or an HTTP-date, RFC 9110 section 10.2.3), in milliseconds from `now`. */
  retryAfterMs: number | undefined
  limit: number | undefined
  remaining: number | undefined
  /** Epoch ms when the window resets. */
  resetAt: number | undefined
  nearLimit: boolean | undefined
  reason: string | undefined
  /** `RateLimit-Policy` entries: `q` (quota) and `w` (window seconds). */
  policies: RateLimitEntry[]
  /** `RateLimit` entries: `r` (remaining, only near the limit) and `t` (seconds to reset). */
  limits: RateLimitEntry[]
}

export interface RateLimitInfo {
  enforced: RateLimitState
  beta: RateLimitState
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

const REASON_SPELLINGS = [...ENFORCED.reason, ...BETA.reason]

function parseFamily (lower: Map<string, string>, names: Spellings, now: number): RateLimitState {
  const first = (candidates: readonly string[]): string | undefined =>
    candidates.map((name) => lower.get(name)).find((value) => value !== undefined)
  return {
    retryAfterMs: parseRetryAfter(first(names.retryAfter), now),
    limit: parseCount(lower.get(names.limit)),
    remaining: parseCount(lower.get(names.remaining)),
    resetAt: parseReset(lower.get(names.reset), now),
    nearLimit: parseBoolean(lower.get(names.nearLimit)),
    reason: nonEmpty(first(names.reason)),
    policies: parseEntries(lower.get(names.policy)),
    limits: parseEntries(lower.get(names.limits))
  }
}

export function parseRateLimitHeaders (headers: HeaderBag, now: number): RateLimitInfo {
  const lower = lowerCased(headers)
  return { enforced: parseFamily(lower, ENFORCED, now), beta: parseFamily(lower, BETA, now) }
}

/** Just the reason of a 429 (enforced first, then the beta spellings), for the log line and usage record. */
export function rateLimitReason (headers: HeaderBag): string | undefined {
  const lower = lowerCased(headers)
  return nonEmpty(REASON_SPELLINGS.map((name) => lower.get(name)).find((value) => value !== undefined))
}

function lowerCased (headers: HeaderBag): Map<string, string> {
  const map = new Map<string, string>()
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    const text = Array.isArray(value) ? value.join(', ') : String(value)
    const key = name.toLowerCase()
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

/** A lenient reader of RFC 9651 lists: entries split on `,`, parameters on `;`, in any order and number. */
function parseEntries (value: string | undefined): RateLimitEntry[] {
  const text = nonEmpty(value)
  if (text === undefined) return []
  const entries: RateLimitEntry[] = []
  for (const raw of splitOutsideQuotes(text, ',')) {
    const [head, ...rest] = splitOutsideQuotes(raw, ';')
    const name = unquote(head ?? '')
    if (name === '') continue
    const params: Record<string, number | string | true> = {}
    for (const part of rest) {
      const equals = part.indexOf('=')
      const key = (equals === -1 ? part : part.slice(0, equals)).trim().toLowerCase()
      if (key === '') continue
      if (equals === -1) { params[key] = true; continue }
      const raw = part.slice(equals + 1).trim()
      params[key] = /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : unquote(raw)
    }
    entries.push({ name, params })
  }
  return entries
}

function splitOutsideQuotes (text: string, separator: string): string[] {
  const parts: string[] = []
  let current = ''
  let quoted = false
  for (const char of text) {
    if (char === '"') quoted = !quoted
    if (char === separator && !quoted) { parts.push(current); current = '' } else current += char
  }
  parts.push(current)
  return parts.map((part) => part.trim()).filter((part) => part !== '')
}

function unquote (text: string): string {
  const trimmed = text.trim()
  return trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"') ? trimmed.slice(1, -1).replace(/\\(.)/g, '$1') : trimmed
}
