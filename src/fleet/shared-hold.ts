/**
 * A quota hold seen by one sidecar holds the whole fleet. The sidecar that got the 429 extends a key whose PTTL is the
 * time left (so clocks of different pods barely matter) and publishes the hold; every sidecar adopts it into its local
 * QuotaHold, so the check stays a local map lookup. A sidecar that starts, or reconnects, later reads the keys.
 * The entry is signed like an event (fleet-events.ts: credential version, send time, hold, HMAC over the key name and
 * those), so a Redis writer cannot forge one; a copied entry holds no longer than the hold it was written for, since
 * the reader takes the least of the PTTL, the signed hold and its signed end (plus the clock allowance).
 */
import type { Clock } from '../clock.js'
import type { QuotaHold, SharedHold } from '../limits/quota-hold.js'
import { EVENT_WINDOW_MS, MAX_EVENT_HOLD_MS, type FleetEvent, type Signer } from './fleet-events.js'
import type { FleetRejections } from './fleet-metrics.js'
import type { FleetKeys } from './keys.js'
import type { RedisLink } from './redis-link.js'
import { sign, verify } from './token-crypto.js'

/** A signed entry is under 100 characters; anything longer is not read back. */
const MAX_ENTRY_CHARS = 256
/** Sets the key when it would extend the hold, or when what is there outlasts any real hold (forged). Any type of
 *  garbage under the key is simply replaced. ARGV: hold ms, entry, the longest real hold. */
const EXTEND = "local left = redis.call('PTTL', KEYS[1]) if left < tonumber(ARGV[1]) or left > tonumber(ARGV[3]) then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1]) return 1 end return 0"
/** { PTTL, the entry ('' when too long or not a string) }: a huge value is never sent back. ARGV[1]: the size cap. */
const READ = `
if redis.call('TYPE', KEYS[1]).ok ~= 'string' then return { -2, '' } end
local left = redis.call('PTTL', KEYS[1])
if redis.call('STRLEN', KEYS[1]) > tonumber(ARGV[1]) then return { left, '' } end
return { left, redis.call('GET', KEYS[1]) }
`

export class FleetHold implements SharedHold {
  readonly #link: RedisLink
  readonly #keys: FleetKeys
  readonly #clock: Clock
  readonly #publish: (event: FleetEvent) => void
  readonly #signer: (integration: string) => Signer | undefined
  readonly #keyFor: (integration: string, version: number) => Promise<Buffer | undefined>
  readonly #rejections: FleetRejections

  constructor (options: {
    link: RedisLink
    keys: FleetKeys
    clock: Clock
    publish: (event: FleetEvent) => void
    signer: (integration: string) => Signer | undefined
    /** The MAC key of that version, reading the credential first when this sidecar has not yet. */
    keyFor: (integration: string, version: number) => Promise<Buffer | undefined>
    rejections: FleetRejections
  }) {
    this.#link = options.link
    this.#keys = options.keys
    this.#clock = options.clock
    this.#publish = options.publish
    this.#signer = options.signer
    this.#keyFor = options.keyFor
    this.#rejections = options.rejections
  }

  announce (integration: string, holdMs: number): void {
    const ms = Math.min(Math.ceil(holdMs), MAX_EVENT_HOLD_MS)
    // Published first: the other sidecars must stop calling Atlassian now, the key is for those that come later.
    this.#publish({ type: 'hold', integration, holdMs: ms })
    const signer = this.#signer(integration)
    if (signer === undefined) return
    const key = this.#keys.quotaHold(integration)
    const signed = `${signer.version}.${signer.now}.${ms}`
    const entry = `${signed}.${sign(signer.key, `${key}\u0000${signed}`)}`
    void this.#link.run((redis) => redis.eval(EXTEND, 1, key, String(ms), entry, String(MAX_EVENT_HOLD_MS)))
  }

  /** Adopts every hold in Redis (at start and after a reconnect: pub/sub messages are not replayed). */
  async load (integrations: readonly string[], hold: QuotaHold): Promise<void> {
    await Promise.all(integrations.map(async (integration) => {
      const key = this.#keys.quotaHold(integration)
      const answer = await this.#link.run((redis) => redis.eval(READ, 1, key, MAX_ENTRY_CHARS))
      if (!Array.isArray(answer) || typeof answer[0] !== 'number' || answer[0] <= 0) return
      const left = await this.#verified(integration, key, answer[0], answer[1])
      if (left > 0) hold.adopt(integration, left)
    }))
  }

  /** The hold the entry vouches for (ms), or 0 when it is not one a sidecar wrote. */
  async #verified (integration: string, key: string, pttl: number, entry: unknown): Promise<number> {
    const reason = (why: string): number => { this.#rejections.count('hold-entry', why); return 0 }
    if (typeof entry !== 'string' || entry === '') return reason('oversized')
    const parts = /^(\d{1,9})\.(\d{1,15})\.(\d{1,10})\.([\w-]{43})$/.exec(entry)
    if (parts === null) return reason('malformed')
    const [, version, at, holdMs, mac] = parts as unknown as [string, string, string, string, string]
    const macKey = await this.#keyFor(integration, Number(version))
    if (macKey === undefined) return reason('other-version')
    if (!verify(macKey, `${key}\u0000${version}.${at}.${holdMs}`, mac)) return reason('bad-signature')
    const end = Number(at) + Number(holdMs) + EVENT_WINDOW_MS - this.#clock.now()
    return Math.max(0, Math.min(pttl, Number(holdMs), MAX_EVENT_HOLD_MS, end))
  }
}
