/**
 * Credential expiry, the one owner: each configured integration's `expires_at` (store metadata, written at rotation or
 * by `secrets put --expires-at`), read with one `list()` at most every `cacheMs` (60 s) however many readers ask,
 * parsed strictly (iso-date.ts) and counted in whole days. `/metrics`, the daily expiry watcher and the admin view all
 * read it, so they cannot disagree. How close is too close is expiry-rule.ts's, with the configured thresholds held
 * here for every reader. Time comes from the injected Clock.
 */
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import { isBrokerError } from '../errors.js'
import type { SecretStore, SecretSummary } from '../secrets/secret-store.js'
import { parseIsoDate } from './iso-date.js'
import { DEFAULT_EXPIRY_WARNING, daysUntil, expiryState, type ExpiryState, type ExpiryThresholds } from './expiry-rule.js'

export { DAY_MS, daysUntil, hoursUntil } from './expiry-rule.js'
export const DEFAULT_EXPIRY_CACHE_MS = 60_000

export interface CredentialExpiryOptions {
  store: SecretStore
  clock: Clock
  logger: Logger
  /** The configured integrations, or a function reading them live (a reload may add one). */
  integrations: Iterable<string> | (() => Iterable<string>)
  cacheMs?: number
  /** `credentials.expiryWarning` from the config. */
  thresholds?: ExpiryThresholds
}

export class CredentialExpiry {
  readonly #store: SecretStore
  readonly #clock: Clock
  readonly #logger: Logger
  readonly #integrations: () => ReadonlySet<string>
  readonly #cacheMs: number
  readonly #thresholds: Readonly<ExpiryThresholds>
  /** Integration -> `expires_at` as last read (text as stored; parsed on use). Every stored integration: the admin view
   * shows one added by a reload; the gauge and the watcher keep to `integrations` (bounded labels). */
  #expiresAt = new Map<string, string>()
  #readAt = -Infinity
  #pending: Promise<void> | undefined

  constructor (options: CredentialExpiryOptions) {
    this.#store = options.store
    this.#clock = options.clock
    this.#logger = options.logger
    const integrations = options.integrations
    if (typeof integrations === 'function') this.#integrations = () => new Set(integrations())
    else {
      const fixed = new Set(integrations)
      this.#integrations = () => fixed
    }
    this.#cacheMs = options.cacheMs ?? DEFAULT_EXPIRY_CACHE_MS
    this.#thresholds = Object.freeze({ ...(options.thresholds ?? DEFAULT_EXPIRY_WARNING) })
  }

  get integrations (): ReadonlySet<string> { return this.#integrations() }

  /** The configured days at or under which a credential is a warning, then critical. */
  get thresholds (): Readonly<ExpiryThresholds> { return this.#thresholds }

  /** Reads the store now (single-flight with any read in progress); rejects when the store cannot be read. */
  async read (): Promise<void> {
    this.#pending ??= this.#read().finally(() => { this.#pending = undefined })
    await this.#pending
  }

  /** Takes a fresh `list()` somebody else made (the admin view), so every reader sees what it saw. */
  observe (summaries: readonly SecretSummary[]): void {
    const next = new Map<string, string>()
    for (const summary of summaries) {
      if (summary.metadata.expires_at !== undefined) next.set(summary.integration, summary.metadata.expires_at)
    }
    this.#expiresAt = next
    this.#readAt = this.#clock.now()
  }

  /** Takes a freshly written value (after a rotation) without waiting for the next read. */
  note (integration: string, expiresAt: string | undefined): void {
    if (expiresAt === undefined) this.#expiresAt.delete(integration)
    else this.#expiresAt.set(integration, expiresAt)
  }

  expiresAt (integration: string): string | undefined {
    return this.#expiresAt.get(integration)
  }

  daysToExpiry (integration: string): number | undefined {
    const expiresAt = this.#expiresAt.get(integration)
    return expiresAt === undefined ? undefined : daysUntil(expiresAt, this.#clock.now())
  }

  /** The one rule's verdict for this integration's recorded expiry; undefined without one. */
  state (integration: string): ExpiryState | undefined {
    const expiresAt = this.#expiresAt.get(integration)
    return expiresAt === undefined ? undefined : expiryState(expiresAt, this.#clock.now(), this.#thresholds)
  }

  /**
   * Integration -> expiry as Unix seconds, for the gauge: re-read when older than `cacheMs`; a failed read logs and
   * keeps the last values. Integrations without a parsable `expires_at` are left out.
   */
  async timestamps (): Promise<Map<string, number>> {
    if (this.#clock.now() - this.#readAt >= this.#cacheMs) {
      try {
        await this.read()
      } catch (error) {
        this.#readAt = this.#clock.now()
        this.#logger.warn({ code: isBrokerError(error) ? error.code : undefined, cause: (error as Error).message }, 'could not read credential expiry from the secret store; keeping the last values')
      }
    }
    const seconds = new Map<string, number>()
    const configured = this.#integrations()
    for (const [integration, text] of this.#expiresAt) {
      const at = configured.has(integration) ? parseIsoDate(text) : undefined
      if (at !== undefined) seconds.set(integration, at / 1000)
    }
    return seconds
  }

  async #read (): Promise<void> {
    this.observe(await this.#store.list())
  }
}
