/**
 * Days until each configured integration's credential expires, from the store's metadata `expires_at` (written at
 * rotation or by `secrets put --expires-at`). Read with one `list()` at most every `cacheMs` (60 s), so a scrape
 * every 15 s does not turn into Vault traffic; a failed read keeps the last known values.
 */
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import type { SecretStore } from '../secrets/secret-store.js'

const DAY_MS = 86_400_000
export const DEFAULT_EXPIRY_CACHE_MS = 60_000

export class CredentialExpiry {
  readonly #store: SecretStore
  readonly #clock: Clock
  readonly #logger: Logger
  readonly #integrations: ReadonlySet<string>
  readonly #cacheMs: number
  /** Integration -> epoch ms of `expires_at`. */
  #expiresAt = new Map<string, number>()
  #readAt = -Infinity
  #pending: Promise<void> | undefined

  constructor (options: { store: SecretStore, clock: Clock, logger: Logger, integrations: Iterable<string>, cacheMs?: number }) {
    this.#store = options.store
    this.#clock = options.clock
    this.#logger = options.logger
    this.#integrations = new Set(options.integrations)
    this.#cacheMs = options.cacheMs ?? DEFAULT_EXPIRY_CACHE_MS
  }

  /** Integration -> days to expiry (negative once expired); integrations without `expires_at` are left out. */
  async daysToExpiry (): Promise<Map<string, number>> {
    if (this.#clock.now() - this.#readAt >= this.#cacheMs) {
      this.#pending ??= this.#read().finally(() => { this.#pending = undefined })
      await this.#pending
    }
    const now = this.#clock.now()
    return new Map([...this.#expiresAt].map(([integration, at]) => [integration, Math.round(((at - now) / DAY_MS) * 1000) / 1000]))
  }

  async #read (): Promise<void> {
    try {
      const summaries = await this.#store.list()
      const next = new Map<string, number>()
      for (const summary of summaries) {
        if (!this.#integrations.has(summary.integration)) continue
        const at = summary.metadata.expires_at === undefined ? NaN : Date.parse(summary.metadata.expires_at)
        if (!Number.isNaN(at)) next.set(summary.integration, at)
      }
      this.#expiresAt = next
    } catch (error) {
      this.#logger.warn({ code: (error as { code?: string }).code, cause: (error as Error).message }, 'could not read credential expiry from the secret store; keeping the last values')
    }
    this.#readAt = this.#clock.now()
  }
}
