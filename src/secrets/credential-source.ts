/**
 * The broker's view of stored credentials: each integration's current secret cached in memory for a bounded time and
 * revalidated cheaply (the store's current version number), so a version written centrally is picked up within
 * `revalidateMs` without a restart. While the store is unreachable, a cached secret keeps serving; only an integration
 * never read before fails.
 */
import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import { CredentialNotConfiguredError, errorCode } from '../errors.js'
import type { SecretStore, StoredSecret } from './secret-store.js'

export interface CredentialChange { integration: string, previousVersion: number | undefined, version: number }

interface CachedSecret { secret: StoredSecret, checkedAt: number }

export class CredentialSource {
  readonly #store: SecretStore
  readonly #clock: Clock
  readonly #logger: Logger
  readonly #revalidateMs: number
  readonly #cached = new Map<string, CachedSecret>()
  readonly #inflight = new Map<string, Promise<StoredSecret>>()
  readonly #events = new EventEmitter()

  constructor (options: { store: SecretStore, clock: Clock, logger: Logger, revalidateMs: number }) {
    this.#store = options.store
    this.#clock = options.clock
    this.#logger = options.logger
    this.#revalidateMs = options.revalidateMs
  }

  /** Subscribes to "a new version became current" (also fired for the first read: previousVersion undefined). */
  onChange (listener: (change: CredentialChange) => void): void {
    this.#events.on('change', listener)
  }

  /** The version the broker currently uses, without touching the store. */
  cachedVersion (integration: string): number | undefined {
    return this.#cached.get(integration)?.secret.version
  }

  /** The secret the broker currently uses, without touching the store (fleet mode derives its signing keys from it). */
  cachedSecret (integration: string): StoredSecret | undefined {
    return this.#cached.get(integration)?.secret
  }

  /**
   * The current secret; throws CredentialNotConfiguredError when none is stored. `revalidate` checks the store now
   * instead of after the interval (Atlassian just rejected the cached one: a newer version may have been written
   * elsewhere).
   */
  async current (integration: string, options: { revalidate?: boolean } = {}): Promise<StoredSecret> {
    const cached = this.#cached.get(integration)
    if (cached && options.revalidate !== true && this.#clock.now() - cached.checkedAt < this.#revalidateMs) {
      return cached.secret
    }
    let pending = this.#inflight.get(integration)
    if (!pending) {
      pending = this.#refresh(integration, cached).finally(() => this.#inflight.delete(integration))
      this.#inflight.set(integration, pending)
    }
    return pending
  }

  /** A specific version (rollback fallback); undefined when unreadable. */
  async version (integration: string, version: number): Promise<StoredSecret | undefined> {
    return this.#store.get(integration, version)
  }

  /** Makes `secret` the one in use right away (after this broker wrote it), announcing the change. */
  adopt (secret: StoredSecret): void {
    const previous = this.#cached.get(secret.integration)?.secret.version
    this.#cached.set(secret.integration, { secret, checkedAt: this.#clock.now() })
    if (previous !== secret.version) this.#events.emit('change', { integration: secret.integration, previousVersion: previous, version: secret.version })
  }

  async #refresh (integration: string, cached: CachedSecret | undefined): Promise<StoredSecret> {
    try {
      if (cached) {
        const version = await this.#store.currentVersion(integration)
        if (version === cached.secret.version) {
          cached.checkedAt = this.#clock.now()
          return cached.secret
        }
      }
      const secret = await this.#store.get(integration)
      if (!secret) {
        this.#cached.delete(integration)
        throw new CredentialNotConfiguredError()
      }
      this.adopt(secret)
      if (cached) this.#logger.info({ integration, previousVersion: cached.secret.version, version: secret.version }, 'credential version changed in the secret store; new exchanges use it')
      return secret
    } catch (error) {
      if (cached && !(error instanceof CredentialNotConfiguredError)) {
        // Keep serving the last good secret while the store is unreachable; revalidate again after the interval.
        cached.checkedAt = this.#clock.now()
        this.#logger.warn({ integration, code: errorCode(error) }, 'secret store unreachable; serving the cached credential')
        return cached.secret
      }
      throw error
    }
  }
}
