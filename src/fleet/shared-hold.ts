/**
 * A quota hold seen by one sidecar holds the whole fleet. The sidecar that got the 429 extends a key whose PTTL is the
 * time left (so clocks of different pods never matter) and publishes the hold; every sidecar adopts it into its local
 * QuotaHold, so the check stays a local map lookup. A sidecar that starts, or reconnects, later reads the keys.
 */
import type { QuotaHold, SharedHold } from '../limits/quota-hold.js'
import type { FleetEvent } from './fleet-events.js'
import type { FleetKeys } from './keys.js'
import type { RedisLink } from './redis-link.js'

/** Sets the key only when it would extend the hold; any type of garbage under the key is simply replaced. */
const EXTEND = "local left = redis.call('PTTL', KEYS[1]) if left < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) return 1 end return 0"

export class FleetHold implements SharedHold {
  readonly #link: RedisLink
  readonly #keys: FleetKeys
  readonly #publish: (event: FleetEvent) => void

  constructor (options: { link: RedisLink, keys: FleetKeys, publish: (event: FleetEvent) => void }) {
    this.#link = options.link
    this.#keys = options.keys
    this.#publish = options.publish
  }

  announce (integration: string, holdMs: number): void {
    const ms = Math.ceil(holdMs)
    // Published first: the other sidecars must stop calling Atlassian now, the key is for those that come later.
    this.#publish({ type: 'hold', integration, holdMs: ms })
    void this.#link.run((redis) => redis.eval(EXTEND, 1, this.#keys.quotaHold(integration), String(ms)))
  }

  /** Adopts every hold in Redis (at start and after a reconnect: pub/sub messages are not replayed). */
  async load (integrations: readonly string[], hold: QuotaHold): Promise<void> {
    await Promise.all(integrations.map(async (integration) => {
      const left = await this.#link.run((redis) => redis.pttl(this.#keys.quotaHold(integration)))
      if (typeof left === 'number' && left > 0) hold.adopt(integration, left)
    }))
  }
}
