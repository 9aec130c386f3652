/**
 * Calls per minute over the last hour, per (caller, integration), split by outcome (call-outcome.ts): the data of the
 * ops page's "requests and errors over time". Memory is bounded twice: series are keyed by bounded labels (labels.ts),
 * and past `maxSeries` a new pair is counted under the `other` caller; each series is a ring of 60 fixed-size slots.
 */
import type { Clock } from '../clock.js'
import { CALL_OUTCOMES, type CallOutcome } from './call-outcome.js'
import { OTHER_CALLER } from './labels.js'

const MINUTE_MS = 60_000
export const SERIES_MINUTES = 60
/** Far above any policy's named callers times integrations; a guard, not a working limit. */
export const DEFAULT_MAX_SERIES = 20_000

const OUTCOME_INDEX = new Map<CallOutcome, number>(CALL_OUTCOMES.map((outcome, index) => [outcome, index]))

export type OutcomeCounts = Record<CallOutcome, number> & { total: number }

export interface OutcomeMinute extends OutcomeCounts {
  /** Start of the minute, ISO 8601. */
  minute: string
}

export interface OutcomeTotals {
  caller: string
  integration: string
  lastHour: OutcomeCounts
}

export interface OutcomeSelection {
  /** Exact label; undefined means every caller. */
  caller?: string | undefined
  integration?: string | undefined
}

export interface OutcomeView {
  /** 60 minutes, oldest first, the current minute last; minutes without calls are zeros. */
  minutes: OutcomeMinute[]
  /** Per (caller, integration) with calls in the last hour and matching the selection, sorted by caller, integration.
   */
  series: OutcomeTotals[]
  /** Every caller and integration label seen in the last hour (the choices of the page's selection). */
  callers: string[]
  integrations: string[]
}

interface Series {
  caller: string
  integration: string
  /** Slot i holds minute m where m % 60 === i; `minutes[i]` says which minute, so a stale slot is reset on reuse. */
  minutes: Float64Array
  counts: Uint32Array
}

export class OutcomeSeries {
  readonly #clock: Clock
  readonly #maxSeries: number
  readonly #series = new Map<string, Series>()

  constructor (options: { clock: Clock, maxSeries?: number }) {
    this.#clock = options.clock
    this.#maxSeries = options.maxSeries ?? DEFAULT_MAX_SERIES
  }

  get size (): number { return this.#series.size }

  record (caller: string, integration: string, outcome: CallOutcome): void {
    const series = this.#seriesFor(caller, integration)
    const minute = Math.floor(this.#clock.now() / MINUTE_MS)
    const slot = minute % SERIES_MINUTES
    const width = CALL_OUTCOMES.length
    if (series.minutes[slot] !== minute) {
      series.minutes[slot] = minute
      series.counts.fill(0, slot * width, (slot + 1) * width)
    }
    const index = slot * width + (OUTCOME_INDEX.get(outcome) as number)
    series.counts[index] = (series.counts[index] as number) + 1
  }

  view (selection: OutcomeSelection = {}): OutcomeView {
    const now = Math.floor(this.#clock.now() / MINUTE_MS)
    const first = now - SERIES_MINUTES + 1
    const width = CALL_OUTCOMES.length
    const timeline = new Float64Array(SERIES_MINUTES * width)
    const callers = new Set<string>()
    const integrations = new Set<string>()
    const series: OutcomeTotals[] = []
    for (const entry of this.#series.values()) {
      const totals = new Float64Array(width)
      let any = false
      for (let slot = 0; slot < SERIES_MINUTES; slot++) {
        const minute = entry.minutes[slot] as number
        if (minute < first || minute > now) continue
        any = true
        for (let o = 0; o < width; o++) totals[o] = (totals[o] as number) + (entry.counts[slot * width + o] as number)
      }
      if (!any) continue
      callers.add(entry.caller)
      integrations.add(entry.integration)
      if (selection.caller !== undefined && selection.caller !== entry.caller) continue
      if (selection.integration !== undefined && selection.integration !== entry.integration) continue
      series.push({ caller: entry.caller, integration: entry.integration, lastHour: countsOf(totals, 0) })
      for (let slot = 0; slot < SERIES_MINUTES; slot++) {
        const minute = entry.minutes[slot] as number
        if (minute < first || minute > now) continue
        const row = (minute - first) * width
        for (let o = 0; o < width; o++) {
          timeline[row + o] = (timeline[row + o] as number) + (entry.counts[slot * width + o] as number)
        }
      }
    }
    series.sort((a, b) => compare(a.caller, b.caller) || compare(a.integration, b.integration))
    const minutes: OutcomeMinute[] = []
    for (let i = 0; i < SERIES_MINUTES; i++) {
      minutes.push({ minute: new Date((first + i) * MINUTE_MS).toISOString(), ...countsOf(timeline, i * width) })
    }
    return { minutes, series, callers: [...callers].sort(compare), integrations: [...integrations].sort(compare) }
  }

  #seriesFor (caller: string, integration: string): Series {
    const key = `${caller}\u0000${integration}`
    let series = this.#series.get(key)
    if (series !== undefined) return series
    if (this.#series.size >= this.#maxSeries && caller !== OTHER_CALLER) {
      return this.#seriesFor(OTHER_CALLER, integration)
    }
    series = {
      caller,
      integration,
      minutes: new Float64Array(SERIES_MINUTES).fill(-1),
      counts: new Uint32Array(SERIES_MINUTES * CALL_OUTCOMES.length)
    }
    this.#series.set(key, series)
    return series
  }
}

/** Plain code-unit order: stable across locales, so the JSON and the CSV sort the same everywhere. */
function compare (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function countsOf (values: Float64Array, offset: number): OutcomeCounts {
  const counts = { total: 0 } as OutcomeCounts
  CALL_OUTCOMES.forEach((outcome, index) => {
    const value = values[offset + index] as number
    counts[outcome] = value
    counts.total += value
  })
  return counts
}
