/**
 * Caller tokens already verified, remembered until they expire: a job sends the same JWT on every call, so only its
 * first call pays for verification. The lookup is one map access on the exact `Authorization` value, ahead of
 * @fastify/jwt (which, even when fast-jwt's own cache hits, decodes the token, hashes it with SHA-256 and merges its
 * options on every request: about 6% of a proxied call's CPU in the bench profile).
 * - Keyed by the whole header value, never a hash or a prefix: only the very same token can hit.
 * - Each entry keeps the token's own `nbf`..`exp` window with the configured clock tolerance (RFC 7519 sections
 *   4.1.4 and 4.1.5), read from the broker's one clock, as time-claims.ts checks them at verification.
 * - Bounded in count (`verifiedCacheSize`) and in bytes, least recently used out. Failures are never remembered.
 */
import { LRUCache } from 'lru-cache'
import { systemClock } from '../clock.js'

/** Headers are at most `maxTokenBytes` (8 KiB by default); this caps the cache whatever the tokens' size. */
const MAX_CACHED_BYTES = 16 * 1_048_576
const ENTRY_OVERHEAD_BYTES = 256

interface Entry<T> { value: T, notBefore: number, expiresAt: number }

export class VerifiedTokens<T extends object> {
  /**
   * Made at the first token remembered: lru-cache allocates its arrays for all `max` entries up front (about 0.3 MB
   * for the default 10,000), which an idle sidecar that has not served a call would hold for nothing.
   */
  #entries: LRUCache<string, Entry<T>> | undefined
  readonly #max: number
  readonly #toleranceMs: number
  readonly #now: () => number

  constructor (options: { max: number, clockToleranceMs: number, now?: () => number }) {
    this.#max = options.max
    this.#toleranceMs = options.clockToleranceMs
    this.#now = options.now ?? systemClock.now
  }

  /** The value remembered for this exact header, while the token is within its validity window. */
  get (header: string): T | undefined {
    const entry = this.#entries?.get(header)
    if (entry === undefined) return undefined
    const now = this.#now()
    if (now > entry.expiresAt) {
      this.#entries?.delete(header)
      return undefined
    }
    return now < entry.notBefore ? undefined : entry.value
  }

  /** Remembers a verified token's outcome; a token without a numeric `exp` is not remembered (nothing bounds it). */
  remember (header: string, value: T, claims: Readonly<Record<string, unknown>>): void {
    const { exp, nbf } = claims
    if (typeof exp !== 'number') return
    this.#entries ??= new LRUCache({
      max: this.#max,
      maxSize: MAX_CACHED_BYTES,
      sizeCalculation: (_entry, key) => key.length + ENTRY_OVERHEAD_BYTES
    })
    this.#entries.set(header, {
      value,
      notBefore: typeof nbf === 'number' ? nbf * 1000 - this.#toleranceMs : -Infinity,
      expiresAt: exp * 1000 + this.#toleranceMs
    })
  }

  get size (): number { return this.#entries?.size ?? 0 }
}
