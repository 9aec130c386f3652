/**
 * The fleet's Prometheus metrics, in the broker's own registry (kept apart from ioredis so tests can list it), and the
 * one count of what the fleet refused to believe from Redis: a forged or malformed event, an oversized or unsigned
 * entry, a junk usage field. Each refusal is counted (metric) and a warning is logged at most once a minute per
 * source, with the counts since the last one: never the payload, which may be anything someone wrote.
 */
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import { Counter, Gauge, type Registry } from '../usage/prom-parts.js'

/** Where a refused value came from: the event channel, or a key of that kind. */
export type RejectionSource = 'event' | 'hold-entry' | 'token-entry' | 'usage' | 'budget' | 'pools'

const LOG_EVERY_MS = 60_000

export class FleetRejections {
  readonly #logger: Logger
  readonly #clock: Clock
  /** `source\0reason` -> count since start. */
  readonly counts = new Map<string, number>()
  readonly #sinceLog = new Map<RejectionSource, Map<string, number>>()
  readonly #loggedAt = new Map<RejectionSource, number>()

  constructor (options: { logger: Logger, clock: Clock }) {
    this.#logger = options.logger
    this.#clock = options.clock
  }

  count (source: RejectionSource, reason: string, by = 1): void {
    const id = `${source}\u0000${reason}`
    this.counts.set(id, (this.counts.get(id) ?? 0) + by)
    const pending = this.#sinceLog.get(source) ?? new Map<string, number>()
    this.#sinceLog.set(source, pending)
    pending.set(reason, (pending.get(reason) ?? 0) + by)
    const now = this.#clock.now()
    const last = this.#loggedAt.get(source)
    if (last !== undefined && now - last < LOG_EVERY_MS) return
    this.#loggedAt.set(source, now)
    this.#sinceLog.delete(source)
    this.#logger.warn({ source, refused: Object.fromEntries(pending) },
      'fleet: ignored data from Redis that no sidecar wrote (forged, malformed or oversized); if this repeats, someone other than the sidecars writes to Redis')
  }

  /** The count for one source and reason (tests, the metric). */
  total (source: RejectionSource, reason: string): number {
    return this.counts.get(`${source}\u0000${reason}`) ?? 0
  }
}

export function registerFleetMetrics (registry: Registry, connected: () => boolean, rejections: FleetRejections): void {
  registry.registerMetric(new Gauge({
    name: 'atlassian_broker_fleet_connected',
    help: 'Whether this sidecar currently coordinates through Redis (1) or runs on local state (0); fleet mode only.',
    registers: [],
    collect () { this.set(connected() ? 1 : 0) }
  }))
  registry.registerMetric(new Counter({
    name: 'atlassian_broker_fleet_rejected_total',
    help: 'Data read from Redis that this sidecar ignored (forged, malformed, oversized, replayed), by source and reason; fleet mode only.',
    labelNames: ['source', 'reason'],
    registers: [],
    collect () {
      this.reset()
      for (const [id, count] of rejections.counts) {
        const [source = '', reason = ''] = id.split('\u0000')
        this.inc({ source, reason }, count)
      }
    }
  }))
}
