/**
 * Recent usage per (caller, integration) for `GET /admin/usage`: a ring of per-minute tallies (the last hour) plus
 * a running total since start. Memory is bounded: series are keyed by bounded labels (labels.ts) and each keeps at
 * most 60 minute tallies of fixed size.
 */
import type { Clock } from '../clock.js'
import { LatencyHistogram } from './latency-histogram.js'

const MINUTE_MS = 60_000
const RING_MINUTES = 60

export interface UsageEvent {
  caller: string
  integration: string
  statusCode: number
  durationMs: number
  bytesIn: number
  bytesOut: number
}

export interface UsageFigures {
  requests: number
  /** Answers with status 400 and above. */
  errors: number
  /** Answers with status 429 (Atlassian's, or the broker's own limits). */
  rateLimited: number
  bytesIn: number
  bytesOut: number
  p50Ms: number | null
  p95Ms: number | null
}

export interface UsageSeries {
  caller: string
  integration: string
  last5m: UsageFigures
  last1h: UsageFigures
  sinceStart: UsageFigures
}

export interface UsageSnapshot {
  generatedAt: string
  startedAt: string
  series: UsageSeries[]
}

class Tally {
  requests = 0
  errors = 0
  rateLimited = 0
  bytesIn = 0
  bytesOut = 0
  readonly latency = new LatencyHistogram()

  add (event: UsageEvent): void {
    this.requests++
    if (event.statusCode >= 400) this.errors++
    if (event.statusCode === 429) this.rateLimited++
    this.bytesIn += event.bytesIn
    this.bytesOut += event.bytesOut
    this.latency.add(event.durationMs)
  }

  merge (other: Tally): void {
    this.requests += other.requests
    this.errors += other.errors
    this.rateLimited += other.rateLimited
    this.bytesIn += other.bytesIn
    this.bytesOut += other.bytesOut
    this.latency.merge(other.latency)
  }

  figures (): UsageFigures {
    return {
      requests: this.requests,
      errors: this.errors,
      rateLimited: this.rateLimited,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      p50Ms: this.latency.quantile(0.5) ?? null,
      p95Ms: this.latency.quantile(0.95) ?? null
    }
  }
}

interface Series {
  caller: string
  integration: string
  total: Tally
  /** Index minute % 60; a slot whose minute is stale is reset on reuse and skipped on read. */
  ring: Array<{ minute: number, tally: Tally } | undefined>
}

export class UsageWindow {
  readonly #clock: Clock
  readonly #startedAt: number
  readonly #series = new Map<string, Series>()

  constructor (options: { clock: Clock }) {
    this.#clock = options.clock
    this.#startedAt = options.clock.now()
  }

  record (event: UsageEvent): void {
    const key = `${event.caller}\u0000${event.integration}`
    let series = this.#series.get(key)
    if (series === undefined) {
      series = {
        caller: event.caller,
        integration: event.integration,
        total: new Tally(),
        ring: new Array(RING_MINUTES)
      }
      this.#series.set(key, series)
    }
    series.total.add(event)
    const minute = Math.floor(this.#clock.now() / MINUTE_MS)
    const index = minute % RING_MINUTES
    let slot = series.ring[index]
    if (slot === undefined || slot.minute !== minute) {
      slot = { minute, tally: new Tally() }
      series.ring[index] = slot
    }
    slot.tally.add(event)
  }

  /** Per-minute counts of one minute (epoch minute), for fleet usage: what this process saw, per series. */
  minute (minute: number): Array<{ caller: string, integration: string, figures: UsageFigures }> {
    const found: Array<{ caller: string, integration: string, figures: UsageFigures }> = []
    for (const entry of this.#series.values()) {
      const slot = entry.ring[minute % RING_MINUTES]
      if (slot !== undefined && slot.minute === minute) {
        found.push({ caller: entry.caller, integration: entry.integration, figures: slot.tally.figures() })
      }
    }
    return found
  }

  snapshot (): UsageSnapshot {
    const now = this.#clock.now()
    const minute = Math.floor(now / MINUTE_MS)
    const series = [...this.#series.values()].map((entry): UsageSeries => {
      const last5m = new Tally()
      const last1h = new Tally()
      for (const slot of entry.ring) {
        if (slot === undefined || slot.minute <= minute - RING_MINUTES) continue
        last1h.merge(slot.tally)
        if (slot.minute > minute - 5) last5m.merge(slot.tally)
      }
      return {
        caller: entry.caller,
        integration: entry.integration,
        last5m: last5m.figures(),
        last1h: last1h.figures(),
        sinceStart: entry.total.figures()
      }
    })
    series.sort((a, b) => a.caller.localeCompare(b.caller) || a.integration.localeCompare(b.integration))
    return { generatedAt: new Date(now).toISOString(), startedAt: new Date(this.#startedAt).toISOString(), series }
  }
}
