/**
 * Fleet-wide points budgets (docs/points.md) without a Redis round trip before any call: each sidecar keeps, per
 * (budget, caller), the caller's bucket and share as Redis last answered (points-share.lua.ts) and projects it to now
 * for the pre-check; the points of each answer are sent afterwards, coalesced, so one caller × budget has at most one
 * charge in flight per sidecar whatever its request rate. When Redis cannot answer, `room` and `charge` say so
 * (undefined, false) and fleet-admission.ts counts the call in the local backend instead.
 */
import { LRUCache } from 'lru-cache'
import type { Clock } from '../clock.js'
import type { FleetRejections } from './fleet-metrics.js'
import { POINTS_SHARE } from './points-share.lua.js'
import type { RedisLink } from './redis-link.js'

const MAX_KEYS = 10_000
/** Four fields per caller (points-share.lua.ts): a hash with more was not written by sidecars alone. */
export const MAX_POINTS_FIELDS = 8_000

interface View {
  /** Redis's bucket and share (points per second) at `at` (this sidecar's clock); undefined before its first answer. */
  tokens: number | undefined
  share: number
  at: number
  /** Points charged here and not yet sent (or in flight). */
  pending: number
  sending: boolean
}

export class FleetPoints {
  readonly #link: RedisLink
  readonly #clock: Clock
  readonly #rejections: FleetRejections | undefined
  /** Made at the first charge: lru-cache allocates for all `max` entries up front (limits/local-limits.ts). */
  #views: LRUCache<string, View> | undefined
  readonly #inFlight = new Set<Promise<void>>()
  /** Charges sent to Redis: the bench's cost figure. */
  roundTrips = 0

  constructor (options: { link: RedisLink, clock: Clock, rejections?: FleetRejections }) {
    this.#link = options.link
    this.#clock = options.clock
    this.#rejections = options.rejections
  }

  /** 0 when the caller's fleet-wide share has a point left (or nothing is known yet), else the milliseconds until it
   *  will; undefined when Redis cannot answer. Never a round trip. */
  room (key: string, caller: string): number | undefined {
    if (!this.#link.connected) return undefined
    const view = this.#views?.get(`${key}\u0000${caller}`)
    if (view?.tokens === undefined) return 0
    const tokens = view.tokens + (this.#clock.now() - view.at) / 1000 * view.share - view.pending
    return tokens > 0 ? 0 : Math.ceil((1 - tokens) / view.share * 1000)
  }

  /** Charges the points (sent soon); false when Redis cannot answer, so the caller counts them locally. `lost`
   *  gets points whose charge Redis failed to take. */
  charge (key: string, caller: string, pointsPerHour: number, points: number, lost: (points: number) => void): boolean {
    if (!this.#link.connected) return false
    const id = `${key}\u0000${caller}`
    this.#views ??= new LRUCache({ max: MAX_KEYS })
    let view = this.#views.get(id)
    if (view === undefined) {
      view = { tokens: undefined, share: pointsPerHour / 3600, at: 0, pending: 0, sending: false }
      this.#views.set(id, view)
    }
    view.pending += points
    this.#send(key, caller, pointsPerHour, view, lost)
    return true
  }

  #send (key: string, caller: string, pointsPerHour: number, view: View, lost: (points: number) => void): void {
    if (view.sending || view.pending <= 0) return
    view.sending = true
    const points = view.pending
    this.roundTrips++
    const sent = this.#link
      .run((redis) => redis.eval(POINTS_SHARE, 1, key, caller, points, pointsPerHour, MAX_POINTS_FIELDS))
      .then((answer) => {
        view.sending = false
        view.pending -= points
        if (!Array.isArray(answer) || answer.length !== 3 || !answer.every((value) => typeof value === 'number')) {
          lost(points)
          return
        }
        const [tokensMilli, shareMicro, discarded] = answer as [number, number, number]
        if (discarded === 1) this.#rejections?.count('budget', 'oversized')
        view.tokens = tokensMilli / 1000
        view.share = Math.max(shareMicro / 1_000_000, 1e-6)
        view.at = this.#clock.now()
        this.#send(key, caller, pointsPerHour, view, lost)
      })
      .finally(() => { this.#inFlight.delete(sent) })
    this.#inFlight.add(sent)
  }

  /** Resolves once every charge sent so far has been answered (the fleet's close waits for them). */
  async settled (): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight])
  }
}
