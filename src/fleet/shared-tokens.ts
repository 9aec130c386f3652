/**
 * One access token per credential version for the whole fleet. A sidecar that needs a token reads the sealed entry
 * (token-crypto.ts); on a miss it takes the integration's exchange lock (SET NX PX, owner-checked release), looks again
 * (the previous holder may have just written it), exchanges, and writes the entry before releasing. The others poll
 * the entry while the lock is held; a lock whose holder died expires after the token timeout and the next poller takes
 * it. Whenever Redis cannot answer, the sidecar exchanges by itself: Redis only ever saves exchanges, never blocks one.
 */
import { randomUUID } from 'node:crypto'
import type { Clock } from '../clock.js'
import type { StoredSecret } from '../secrets/secret-store.js'
import type { MintedToken, SharedTokenCache } from '../tokens/token-provider.js'
import type { FleetRejections } from './fleet-metrics.js'
import type { FleetKeys } from './keys.js'
import type { RedisLink } from './redis-link.js'
import { MAX_ENTRY_CHARS, open, seal, type FleetKeyring } from './token-crypto.js'

const POLL_MS = 25
const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
/** The entry, size-checked in Redis before anything is sent: { 1, entry }, { 0 } missing, { 2 } over ARGV[1]
 *  characters, { 3 } not a string. A 150 MB value someone wrote under the key never reaches the sidecar. */
const READ = `
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'none' then return { 0 } end
if kind ~= 'string' then return { 3 } end
if redis.call('STRLEN', KEYS[1]) > tonumber(ARGV[1]) then return { 2 } end
return { 1, redis.call('GET', KEYS[1]) }
`

type Secret = Pick<StoredSecret, 'data' | 'version'>

export class SharedTokens implements SharedTokenCache {
  readonly #link: RedisLink
  readonly #keys: FleetKeys
  readonly #clock: Clock
  readonly #lockMs: number
  readonly #onDropped: (integration: string, versions: number[]) => void
  readonly #keyring: FleetKeyring
  readonly #rejections: FleetRejections

  constructor (options: {
    link: RedisLink
    keys: FleetKeys
    clock: Clock
    lockMs: number
    keyring: FleetKeyring
    rejections: FleetRejections
    onDropped: (integration: string, versions: number[]) => void
  }) {
    this.#link = options.link
    this.#keys = options.keys
    this.#clock = options.clock
    this.#lockMs = options.lockMs
    this.#onDropped = options.onDropped
    this.#keyring = options.keyring
    this.#rejections = options.rejections
  }

  async obtain (integration: string, secret: Secret, mint: () => Promise<MintedToken>): Promise<MintedToken> {
    const tokenKey = this.#keys.token(integration, secret.version)
    const lockKey = this.#keys.exchangeLock(integration)
    const owner = randomUUID()
    const deadline = this.#clock.now() + this.#lockMs + 1_000
    for (;;) {
      const found = await this.#read(integration, secret, tokenKey)
      if (found === 'unavailable') return await mint()
      if (found !== undefined) return found
      const locked = await this.#link.run((redis) => redis.set(lockKey, owner, 'PX', this.#lockMs, 'NX'))
      if (locked === undefined) return await mint()
      if (locked === 'OK') return await this.#mintLocked(integration, secret, tokenKey, lockKey, owner, mint)
      if (this.#clock.now() > deadline) return await mint()
      await new Promise<void>((resolve) => { this.#clock.setTimer(resolve, POLL_MS) })
    }
  }

  /** Deletes the shared entries of these versions (an operator dropped the token on some sidecar). */
  async drop (integration: string, versions: number[]): Promise<void> {
    const keys = [...new Set(versions)].map((version) => this.#keys.token(integration, version))
    if (keys.length > 0) await this.#link.run((redis) => redis.del(...keys))
  }

  /** An operator dropped the token on this sidecar: drop the shared entries, then tell the fleet. */
  dropped (integration: string, versions: number[]): void {
    void this.drop(integration, versions).then(() => {
      this.#onDropped(integration, versions)
    })
  }

  async #mintLocked (
    integration: string,
    secret: Secret,
    tokenKey: string,
    lockKey: string,
    owner: string,
    mint: () => Promise<MintedToken>
  ): Promise<MintedToken> {
    try {
      const written = await this.#read(integration, secret, tokenKey)
      if (written !== undefined && written !== 'unavailable') return written
      const token = await mint()
      const ttlMs = Math.floor(token.usableUntil - this.#clock.now())
      if (ttlMs > 0) {
        const entry = seal(this.#keyring.tokenKey(integration, secret), tokenKey, JSON.stringify(token))
        await this.#link.run((redis) => redis.set(tokenKey, entry, 'PX', ttlMs))
      }
      return token
    } finally {
      await this.#link.run((redis) => redis.eval(RELEASE, 1, lockKey, owner))
    }
  }

  /** A fresh shared token (before its refresh time), undefined on a miss, 'unavailable' when Redis cannot answer. */
  async #read (integration: string, secret: Secret, tokenKey: string): Promise<MintedToken | 'unavailable' | undefined> {
    const answer = await this.#link.run((redis) => redis.eval(READ, 1, tokenKey, MAX_ENTRY_CHARS))
    if (!Array.isArray(answer)) return 'unavailable'
    if (answer[0] !== 1) {
      if (answer[0] === 2) this.#rejections.count('token-entry', 'oversized')
      if (answer[0] === 3) this.#rejections.count('token-entry', 'wrong-type')
      return undefined
    }
    const text = open(this.#keyring.tokenKey(integration, secret), tokenKey, answer[1])
    if (text === undefined) { this.#rejections.count('token-entry', 'bad-seal'); return undefined }
    const token = parseToken(text)
    if (token === undefined || token.secretVersion !== secret.version || this.#clock.now() >= token.refreshAt) {
      return undefined
    }
    return token
  }
}

function parseToken (text: string): MintedToken | undefined {
  let value: unknown
  try { value = JSON.parse(text) } catch { return undefined }
  if (typeof value !== 'object' || value === null) return undefined
  const token = value as Record<string, unknown>
  const numbers = ['secretVersion', 'expiresAt', 'usableUntil', 'refreshAt'].every((field) => typeof token[field] === 'number')
  if (!numbers || typeof token.authorization !== 'string' || !token.authorization.startsWith('Bearer ')) return undefined
  return {
    authorization: token.authorization,
    secretVersion: token.secretVersion as number,
    expiresAt: token.expiresAt as number,
    usableUntil: token.usableUntil as number,
    refreshAt: token.refreshAt as number
  }
}
