/**
 * What this process's tally (tally.ts) shows: the totals of `GET /admin/usage` (last 5 minutes, last hour, since
 * start) and the per-minute outcomes of the ops view (`GET /admin/ops`). Both are sums of the same cells, in the one
 * sort order (compareLabels).
 */
import { callsIn, compareLabels, compareSeries, emptyCell, mergeCell, outcomeCounts, pointsIn, usageFigures, type OutcomeCounts, type UsageFigures } from './tally-cell.js'
import { minuteIso } from '../minute-ring.js'
import { TALLY_MINUTES, type UsageTally } from './tally.js'

export interface UsageSeries {
  caller: string
  integration: string
  last5m: UsageFigures
  last1h: UsageFigures
  sinceStart: UsageFigures
  /** Atlassian points per minute over the last hour, oldest first, the current minute last (docs/points.md). */
  pointsByMinute: number[]
}

export interface UsageSnapshot {
  generatedAt: string
  startedAt: string
  series: UsageSeries[]
}

export interface OutcomeMinute extends OutcomeCounts {
  /** Start of the minute, ISO 8601. */
  minute: string
  /** Atlassian points the selected calls cost in this minute, as estimated. */
  points: number
}

export interface OutcomeTotals {
  caller: string
  integration: string
  lastHour: OutcomeCounts
  /** Atlassian points over the last hour, as estimated. */
  pointsLastHour: number
}

export interface OutcomeSelection {
  /** Exact label; undefined means every caller. */
  caller?: string | undefined
  integration?: string | undefined
}

export interface OutcomeView {
  /** 60 minutes, oldest first, the current minute last; minutes without calls are zeros. */
  minutes: OutcomeMinute[]
  /** Per (caller, integration) with calls in the last hour and matching the selection. */
  series: OutcomeTotals[]
  /** Every caller and integration label seen in the last hour (the choices of the page's selection). */
  callers: string[]
  integrations: string[]
}

export function usageSnapshot (tally: UsageTally): UsageSnapshot {
  const now = tally.minute()
  const series: UsageSeries[] = []
  for (const entry of tally.series()) {
    const last5m = emptyCell()
    const last1h = emptyCell()
    const hour = entry.cells(now)
    const pointsByMinute = hour.map((cell) => cell === undefined ? 0 : pointsIn(cell))
    for (const cell of hour) if (cell !== undefined) mergeCell(last1h, cell)
    for (const cell of hour.slice(-5)) if (cell !== undefined) mergeCell(last5m, cell)
    series.push({
      caller: entry.caller,
      integration: entry.integration,
      last5m: usageFigures(last5m),
      last1h: usageFigures(last1h),
      sinceStart: usageFigures(entry.total),
      pointsByMinute
    })
  }
  series.sort(compareSeries)
  return {
    generatedAt: new Date(tally.clock.now()).toISOString(),
    startedAt: new Date(tally.startedAt).toISOString(),
    series
  }
}

export function outcomeView (tally: UsageTally, selection: OutcomeSelection = {}): OutcomeView {
  const now = tally.minute()
  const first = now - TALLY_MINUTES + 1
  const timeline = Array.from({ length: TALLY_MINUTES }, () => emptyCell())
  const callers = new Set<string>()
  const integrations = new Set<string>()
  const series: OutcomeTotals[] = []
  for (const entry of tally.series()) {
    const cells = entry.cells(now)
    const lastHour = emptyCell()
    for (const cell of cells) if (cell !== undefined) mergeCell(lastHour, cell)
    if (callsIn(lastHour) === 0) continue
    callers.add(entry.caller)
    integrations.add(entry.integration)
    if (selection.caller !== undefined && selection.caller !== entry.caller) continue
    if (selection.integration !== undefined && selection.integration !== entry.integration) continue
    const { caller, integration } = entry
    series.push({ caller, integration, lastHour: outcomeCounts(lastHour), pointsLastHour: pointsIn(lastHour) })
    cells.forEach((cell, index) => { if (cell !== undefined) mergeCell(timeline[index] as Float64Array, cell) })
  }
  series.sort(compareSeries)
  return {
    minutes: timeline.map((cell, index) => ({
      minute: minuteIso(first + index),
      ...outcomeCounts(cell),
      points: pointsIn(cell)
    })),
    series,
    callers: [...callers].sort(compareLabels),
    integrations: [...integrations].sort(compareLabels)
  }
}
