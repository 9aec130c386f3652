/**
 * The one rule for how close to expiry a credential is: `credentials.expiryWarning` (warnDays, criticalDays) and
 * whole days counted down like a calendar. A credential is `warning` at or under `warnDays` days left, `critical` at or
 * under `criticalDays`, `expired` once its day has passed. The daily watcher's log lines, `/admin/integrations`,
 * `/admin/ops` (and so the ops page) and the threshold gauge in `/metrics` (which the Prometheus alerts compare
 * against) all come from here, so they cannot disagree.
 */
import { parseIsoDate } from './iso-date.js'
import { DEFAULT_EXPIRY_WARNING } from '../config/schema.js'

export const DAY_MS = 86_400_000

export { DEFAULT_EXPIRY_WARNING }

export interface ExpiryThresholds {
  /** Days left at or under which a credential is `warning`. */
  warnDays: number
  /** Days left at or under which a credential is `critical` (at most `warnDays`). */
  criticalDays: number
}

export const EXPIRY_STATES = ['ok', 'warning', 'critical', 'expired'] as const
export type ExpiryState = typeof EXPIRY_STATES[number]

/** Whole days left (negative once expired), counted down like a calendar: 29.9 days left is 29. */
export function daysUntil (expiresAt: string, now: number): number | undefined {
  const at = parseIsoDate(expiresAt)
  return at === undefined ? undefined : Math.floor((at - now) / DAY_MS)
}

/** Hours left to one decimal (the ops page's "47.9 hours"), read as strictly as daysUntil; undefined if unreadable. */
export function hoursUntil (expiresAt: string, now: number): number | undefined {
  const at = parseIsoDate(expiresAt)
  return at === undefined ? undefined : Math.round((at - now) / 360_000) / 10
}

/** The state for a whole number of days left (as daysUntil counts them). */
export function expiryStateOfDays (days: number, thresholds: ExpiryThresholds = DEFAULT_EXPIRY_WARNING): ExpiryState {
  if (days < 0) return 'expired'
  if (days <= thresholds.criticalDays) return 'critical'
  if (days <= thresholds.warnDays) return 'warning'
  return 'ok'
}

/** The state of a credential expiring at `expiresAt` (ISO 8601), or undefined when that is not a date. */
export function expiryState (
  expiresAt: string,
  now: number,
  thresholds: ExpiryThresholds = DEFAULT_EXPIRY_WARNING
): ExpiryState | undefined {
  const days = daysUntil(expiresAt, now)
  return days === undefined ? undefined : expiryStateOfDays(days, thresholds)
}

/**
 * The time left (seconds) under which a level begins: "at or under N whole days" is "less than N + 1 days left", since
 * days are counted down. The gauge exports these so alerts compare `expiry - time() < threshold` with the broker's own
 * numbers.
 */
export function thresholdSeconds (days: number): number {
  return (days + 1) * (DAY_MS / 1000)
}
