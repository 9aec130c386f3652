/**
 * The one per-minute usage tally: per caller label × integration label × minute over the last hour, one cell
 * (tally-cell.ts: calls by outcome, bytes, latency histogram), plus a running total per series since start. Fed once
 * per proxied call (usage.ts); `/admin/usage`, the ops view and the fleet's publication all read it (tally-views.ts,
 * fleet/fleet-usage.ts). Memory is bounded twice: labels are bounded (labels.ts), and past `maxSeries` a new pair is
 * counted under the `other` caller; each series is a ring of at most 60 cells, made when a minute has a call. Calls an
 * MCP tool made are also totalled per caller × tool (`toolSeries`).
 */
import type { Clock } from '../clock.js'
import { epochMinute, HOUR_MINUTES, MinuteRing } from '../minute-ring.js'
import { callOutcome } from './call-outcome.js'
import { OTHER_CALLER } from './labels.js'
import type { ProxiedCall } from './proxied-call.js'
import { addCall, emptyCell, type TallyCell } from './tally-cell.js'

export const TALLY_MINUTES = HOUR_MINUTES
/** Far above any policy's named callers times integrations; a guard, not a working limit. */
export const DEFAULT_MAX_SERIES = 20_000

export interface TallySeries {
  readonly caller: string
  readonly integration: string
  /** Every call since the tally started. */
  readonly total: TallyCell
  /** The cell of one epoch minute, if that minute is within the last hour and had a call. */
  cell: (minute: number) => TallyCell | undefined
  /** The last `count` minutes (default the hour) ending with epoch minute `now`, oldest first; undefined: no call. */
  cells: (now: number, count?: number) => Array<TallyCell | undefined>
}

/** Calls per caller label × MCP tool since start (src/mcp/; tool names are the broker's fixed list, so bounded). */
export interface ToolSeries {
  readonly caller: string
  readonly tool: string
  readonly total: TallyCell
}

/** One set of ring options for every series: a stale minute's cell is zeroed in place, not made again. */
const CELL_RING = { empty: emptyCell, clear: (cell: TallyCell): void => { cell.fill(0) }, minutes: TALLY_MINUTES }

class Series implements TallySeries {
  readonly total = emptyCell()
  readonly #ring = new MinuteRing<TallyCell>(CELL_RING)

  constructor (readonly caller: string, readonly integration: string) {}

  cell (minute: number): TallyCell | undefined {
    return this.#ring.get(minute)
  }

  cells (now: number, count?: number): Array<TallyCell | undefined> {
    return this.#ring.last(now, count)
  }

  cellFor (minute: number): TallyCell {
    return this.#ring.at(minute)
  }
}

export class UsageTally {
  readonly clock: Clock
  /** Epoch ms when counting began. */
  readonly startedAt: number
  readonly #maxSeries: number
  readonly #series = new Map<string, Series>()
  readonly #tools = new Map<string, ToolSeries>()

  constructor (options: { clock: Clock, maxSeries?: number }) {
    this.clock = options.clock
    this.startedAt = options.clock.now()
    this.#maxSeries = options.maxSeries ?? DEFAULT_MAX_SERIES
  }

  get size (): number { return this.#series.size }

  /** The current epoch minute (by the injected clock). */
  minute (): number {
    return epochMinute(this.clock.now())
  }

  /** Counts one call under its bounded labels (labels.ts), in the minute it ended. */
  record (
    caller: string,
    integration: string,
    call: Pick<ProxiedCall, 'statusCode' | 'errorCode' | 'durationMs' | 'bytesIn' | 'bytesOut'> & Partial<Pick<ProxiedCall, 'tool' | 'points'>>
  ): void {
    const figures = {
      outcome: callOutcome(call),
      durationMs: call.durationMs,
      bytesIn: call.bytesIn,
      bytesOut: call.bytesOut,
      points: call.points ?? 0
    }
    const series = this.#seriesFor(caller, integration)
    addCall(series.total, figures)
    addCall(series.cellFor(this.minute()), figures)
    if (call.tool !== undefined) addCall(this.#toolSeriesFor(caller, call.tool).total, figures)
  }

  /** The tool dimension: every REST call an MCP tool made, per caller × tool (the ops page's tools table). */
  toolSeries (): Iterable<ToolSeries> {
    return this.#tools.values()
  }

  #toolSeriesFor (caller: string, tool: string): ToolSeries {
    const key = `${caller}\u0000${tool}`
    let series = this.#tools.get(key)
    if (series === undefined) {
      series = { caller, tool, total: emptyCell() }
      this.#tools.set(key, series)
    }
    return series
  }

  series (): Iterable<TallySeries> {
    return this.#series.values()
  }

  #seriesFor (caller: string, integration: string): Series {
    const key = `${caller}\u0000${integration}`
    let series = this.#series.get(key)
    if (series !== undefined) return series
    if (this.#series.size >= this.#maxSeries && caller !== OTHER_CALLER) {
      return this.#seriesFor(OTHER_CALLER, integration)
    }
    series = new Series(caller, integration)
    this.#series.set(key, series)
    return series
  }
}
