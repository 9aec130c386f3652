/**
 * Credential expiry: reads each configured integration's `expires_at` (store metadata, set at put or rotate time) at
 * start and then once a day, logs a warning from 30 days before and an error from 7 days before (and after expiry),
 * and answers `daysToExpiry(integration)` for the admin API and metrics. Time comes from the injected Clock.
 */
import type { Logger } from 'pino'
import type { Clock, TimerHandle } from '../clock.js'
import type { SecretStore } from '../secrets/secret-store.js'
import { parseIsoDate } from './iso-date.js'

export const DAY_MS = 86_400_000
export const DEFAULT_WARN_DAYS = 30
export const DEFAULT_ERROR_DAYS = 7

export interface ExpiryWatcherOptions {
  store: SecretStore
  clock: Clock
  logger: Logger
  integrations: Iterable<string>
  intervalMs?: number
  warnDays?: number
  errorDays?: number
}

/** Whole days left (negative once expired), counted down like a calendar: 29.9 days left is 29. */
export function daysUntil (expiresAt: string, now: number): number | undefined {
  const at = parseIsoDate(expiresAt)
  return at === undefined ? undefined : Math.floor((at - now) / DAY_MS)
}

export class ExpiryWatcher {
  readonly #options: Required<Omit<ExpiryWatcherOptions, 'integrations'>>
  readonly #integrations: string[]
  /** Integration -> `expires_at` as last read. */
  readonly #expiresAt = new Map<string, string>()
  #timer: TimerHandle | undefined
  #running: Promise<void> | undefined
  #stopped = false

  constructor (options: ExpiryWatcherOptions) {
    this.#options = { intervalMs: DAY_MS, warnDays: DEFAULT_WARN_DAYS, errorDays: DEFAULT_ERROR_DAYS, ...options }
    this.#integrations = [...options.integrations]
  }

  /** Checks now, then every interval. The first check runs in the background: a slow store must not hold up startup. */
  start (): void {
    this.#stopped = false
    void this.check()
  }

  stop (): void {
    this.#stopped = true
    if (this.#timer !== undefined) this.#options.clock.clearTimer(this.#timer)
    this.#timer = undefined
  }

  /** Resolves when the check in progress (if any) is done. */
  async settled (): Promise<void> { await this.#running }

  daysToExpiry (integration: string): number | undefined {
    const expiresAt = this.#expiresAt.get(integration)
    return expiresAt === undefined ? undefined : daysUntil(expiresAt, this.#options.clock.now())
  }

  expiresAt (integration: string): string | undefined {
    return this.#expiresAt.get(integration)
  }

  /** Takes a freshly written value (after a rotation) without waiting for the next daily read. */
  note (integration: string, expiresAt: string | undefined): void {
    if (expiresAt === undefined) this.#expiresAt.delete(integration)
    else this.#expiresAt.set(integration, expiresAt)
  }

  /** One read of the store and one log line per integration inside the warning window. */
  async check (): Promise<void> {
    this.#running ??= this.#check().finally(() => { this.#running = undefined })
    await this.#running
  }

  async #check (): Promise<void> {
    const { clock, logger, store } = this.#options
    try {
      const summaries = await store.list()
      const known = new Set(this.#integrations)
      this.#expiresAt.clear()
      for (const summary of summaries) {
        if (known.has(summary.integration) && summary.metadata.expires_at !== undefined) this.#expiresAt.set(summary.integration, summary.metadata.expires_at)
      }
      for (const integration of this.#integrations) this.#report(integration)
    } catch (error) {
      logger.warn({ code: (error as { code?: string }).code }, 'could not read credential expiry from the secret store; trying again at the next check')
    } finally {
      if (!this.#stopped) {
        if (this.#timer !== undefined) clock.clearTimer(this.#timer)
        this.#timer = clock.setTimer(() => { void this.check() }, this.#options.intervalMs)
      }
    }
  }

  #report (integration: string): void {
    const expiresAt = this.#expiresAt.get(integration)
    const days = this.daysToExpiry(integration)
    if (expiresAt === undefined || days === undefined) return
    const { logger, warnDays, errorDays } = this.#options
    const fields = { integration, expiresAt, daysToExpiry: days }
    if (days < 0) logger.error(fields, `the credential of ${integration} expired ${-days} day(s) ago; rotate it: atlassian-broker secrets rotate ${integration}`)
    else if (days <= errorDays) logger.error(fields, `the credential of ${integration} expires in ${days} day(s); rotate it now: atlassian-broker secrets rotate ${integration}`)
    else if (days <= warnDays) logger.warn(fields, `the credential of ${integration} expires in ${days} day(s); plan its rotation`)
  }
}
