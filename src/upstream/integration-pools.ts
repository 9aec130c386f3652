/**
 * One keep-alive undici Pool per integration, made on first use. With one pool for all, a caller holding every
 * connection (64 slow uploads) made calls to every other integration wait; now it can only fill its own
 * integration's pool (and per-caller limits, src/limits/admission.ts, keep it to a share of that).
 */
import type { Dispatcher, Pool as UndiciPool } from 'undici'
import { createPool } from '../atlassian/undici-parts.js'

export interface PoolSettings {
  origin: string
  /** Connections of each integration's pool. */
  connections: number
  connectTimeoutMs: number
  headersTimeoutMs: number
  bodyTimeoutMs: number
}

export class IntegrationPools {
  readonly #settings: PoolSettings
  readonly #pools = new Map<string, UndiciPool>()

  constructor (settings: PoolSettings) {
    this.#settings = settings
  }

  /** The integration's own pool (created now if this is its first call). */
  for (integration: string): Dispatcher {
    let pool = this.#pools.get(integration)
    if (pool === undefined) {
      pool = createPool(this.#settings.origin, {
        connections: this.#settings.connections,
        connectTimeout: this.#settings.connectTimeoutMs,
        headersTimeout: this.#settings.headersTimeoutMs,
        bodyTimeout: this.#settings.bodyTimeoutMs,
        pipelining: 1
      })
      this.#pools.set(integration, pool)
    }
    return pool
  }

  /** Integrations that have a pool (those called since start). */
  names (): string[] {
    return [...this.#pools.keys()]
  }

  async close (): Promise<void> {
    await Promise.all([...this.#pools.values()].map(async (pool) => await pool.close()))
    this.#pools.clear()
  }
}
