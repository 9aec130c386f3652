/**
 * The daily expiry check: asks the one CredentialExpiry (credential-expiry.ts) for a fresh read at start and then once
 * a day, and logs a warning for a credential in the `warning` state, an error for `critical` and `expired` (the one
 * rule, expiry-rule.ts, with the configured `credentials.expiryWarning`: 30 and 7 days by default). Days, parsing,
 * thresholds and the cache are CredentialExpiry's, so the log, `/metrics` and the admin view agree. Time comes from the
 * injected Clock.
 */
import type { Logger } from 'pino'
import type { Clock, TimerHandle } from '../clock.js'
import { isBrokerError } from '../errors.js'
import { DAY_MS, type CredentialExpiry } from './expiry.js'

export interface ExpiryWatcherOptions {
  expiry: CredentialExpiry
  clock: Clock
  logger: Logger
  intervalMs?: number
}

export class ExpiryWatcher {
  readonly #options: Required<ExpiryWatcherOptions>
  #timer: TimerHandle | undefined
  #running: Promise<void> | undefined
  #stopped = false

  constructor (options: ExpiryWatcherOptions) {
    this.#options = { intervalMs: DAY_MS, ...options }
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

  /** One read of the store and one log line per integration inside the warning window. */
  async check (): Promise<void> {
    this.#running ??= this.#check().finally(() => { this.#running = undefined })
    await this.#running
  }

  async #check (): Promise<void> {
    const { clock, logger, expiry } = this.#options
    try {
      await expiry.read()
      for (const integration of expiry.integrations) this.#report(integration)
    } catch (error) {
      logger.warn({ code: isBrokerError(error) ? error.code : undefined }, 'could not read credential expiry from the secret store; trying again at the next check')
    } finally {
      if (!this.#stopped) {
        if (this.#timer !== undefined) clock.clearTimer(this.#timer)
        this.#timer = clock.setTimer(() => { void this.check() }, this.#options.intervalMs)
      }
    }
  }

  #report (integration: string): void {
    const { logger, expiry } = this.#options
    const expiresAt = expiry.expiresAt(integration)
    const days = expiry.daysToExpiry(integration)
    const state = expiry.state(integration)
    if (expiresAt === undefined || days === undefined || state === undefined) return
    const fields = { integration, expiresAt, daysToExpiry: days, expiryLevel: state }
    if (state === 'expired') logger.error(fields, `the credential of ${integration} expired ${-days} day(s) ago; rotate it: atlassian-broker secrets rotate ${integration}`)
    else if (state === 'critical') logger.error(fields, `the credential of ${integration} expires in ${days} day(s); rotate it now: atlassian-broker secrets rotate ${integration}`)
    else if (state === 'warning') logger.warn(fields, `the credential of ${integration} expires in ${days} day(s); plan its rotation`)
  }
}
