/**
 * Credential expiry, the one owner: each configured integration's `expires_at` (store metadata, written at rotation or
 * by `secrets put --expires-at`), read with one `list()` at most every `cacheMs` (60 s) however many readers ask,
 * parsed strictly (iso-date.ts) and counted in whole days. `/metrics`, the daily expiry watcher and the admin view all
 * read it, so they cannot disagree. Time comes from the injected Clock.
 */
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import { isBrokerError } from '../errors.js'
import type { SecretStore, SecretSummary } from '../secrets/secret-store.js'
import { parseIsoDate } from './iso-date.js'

export const DAY_MS = 86_400_000
export const DEFAULT_EXPIRY_CACHE_MS = 60_000

/** Whole days left (negative once expired), counted down like a calendar: 29.9 days left is 29. */
export function daysUntil (expiresAt: string, now: number): number | undefined {
  const at = parseIsoDate(expiresAt)
  return at === undefined ? undefined : Math.floor((at - now) / DAY_MS)
}

export interface CredentialExpiryOptions {
  store: SecretStore
  clock: Clock
  logger: Logger
  integrations: Iterable<string>
  cacheMs?: number
}

export class CredentialExpiry {
  readonly #store: SecretStore
  readonly #clock: Clock
  readonly #logger: Logger
  readonly #integrations: ReadonlySet<string>
  readonly #cacheMs: number
  /** Integration -> `expires_at` as last read (text as stored; parsed on use). Every stored integration: the admin view
   * shows one added by a reload; the gauge and the watcher keep to `integrations` (bounded labels). */
  #expiresAt = new Map<string, string>()
  #readAt = -Infinity
  #pending: Promise<void> | undefined

  constructor (options: CredentialExpiryOptions) {
    this.#store = options.store
    this.#clock = options.clock
    this.#logger = options.logger
    this.#integrations = new Set(options.integrations)
    this.#cacheMs = options.cacheMs ?? DEFAULT_EXPIRY_CACHE_MS
  }

  get integrations (): ReadonlySet<string> { return this.#integrations }

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
    for (const [integration, text] of this.#expiresAt) {
      const at = this.#integrations.has(integration) ? parseIsoDate(text) : undefined
      if (at !== undefined) seconds.set(integration, at / 1000)
    }
    return seconds
  }

  async #read (): Promise<void> {
    this.observe(await this.#store.list())
  }
}
