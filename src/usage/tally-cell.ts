/**
 * One cell of the usage tally: what one caller did on one integration in one minute (or any sum of such minutes,
 * across pods too). A fixed-size Float64Array, so cells add up by adding numbers: the count of each outcome
 * (call-outcome.ts), the body bytes both ways, and the latency histogram (latency-histogram.ts). Calls are the sum of
 * the outcomes, errors and 429s are sums of some of them: every figure shown anywhere is read from here, so the pod
 * view, the ops view and the fleet view cannot disagree about what they count.
 */
import { CALL_OUTCOMES, ERROR_OUTCOMES, RATE_LIMITED_OUTCOMES, type CallOutcome } from './call-outcome.js'
import { LATENCY_BUCKETS, latencyBucket, latencyQuantile } from './latency-histogram.js'

const OUTCOME_INDEX = new Map<CallOutcome, number>(CALL_OUTCOMES.map((outcome, index) => [outcome, index]))
const BYTES_IN = CALL_OUTCOMES.length
const BYTES_OUT = BYTES_IN + 1
const LATENCY = BYTES_OUT + 1
/** Last, so a cell an older sidecar wrote into Redis (fleet mode) still reads back, with 0 points. */
const POINTS = LATENCY + LATENCY_BUCKETS
export const CELL_WIDTH = POINTS + 1

export type TallyCell = Float64Array

export interface CallFigures {
  outcome: CallOutcome
  durationMs: number
  bytesIn: number
  bytesOut: number
  /** Atlassian points (src/atlassian/point-cost.ts). */
  points: number
}

/** The totals `/admin/usage` shows for a window. */
export interface UsageFigures {
  requests: number
  /** Every answer but `ok` (status 400 and above): ERROR_OUTCOMES. */
  errors: number
  /** The 429s, whoever limited the call: RATE_LIMITED_OUTCOMES. */
  rateLimited: number
  bytesIn: number
  bytesOut: number
  /** Atlassian points spent, as estimated (docs/points.md). */
  points: number
  p50Ms: number | null
  p95Ms: number | null
}

/** Each outcome's count plus `total`, as the ops view shows them. */
export type OutcomeCounts = Record<CallOutcome, number> & { total: number }

export function emptyCell (): TallyCell {
  return new Float64Array(CELL_WIDTH)
}

export function addCall (cell: TallyCell, call: CallFigures): void {
  const outcome = OUTCOME_INDEX.get(call.outcome) as number
  cell[outcome] = (cell[outcome] as number) + 1
  cell[BYTES_IN] = (cell[BYTES_IN] as number) + call.bytesIn
  cell[BYTES_OUT] = (cell[BYTES_OUT] as number) + call.bytesOut
  cell[POINTS] = (cell[POINTS] as number) + call.points
  const bucket = LATENCY + latencyBucket(call.durationMs)
  cell[bucket] = (cell[bucket] as number) + 1
}

export function mergeCell (into: TallyCell, from: TallyCell): void {
  for (let index = 0; index < CELL_WIDTH; index++) into[index] = (into[index] as number) + (from[index] as number)
}

export function callsIn (cell: TallyCell): number {
  let calls = 0
  for (let index = 0; index < CALL_OUTCOMES.length; index++) calls += cell[index] as number
  return calls
}

function sumOf (cell: TallyCell, outcomes: readonly CallOutcome[]): number {
  let sum = 0
  for (const outcome of outcomes) sum += cell[OUTCOME_INDEX.get(outcome) as number] as number
  return sum
}

export function usageFigures (cell: TallyCell): UsageFigures {
  return {
    requests: callsIn(cell),
    errors: sumOf(cell, ERROR_OUTCOMES),
    rateLimited: sumOf(cell, RATE_LIMITED_OUTCOMES),
    bytesIn: cell[BYTES_IN] as number,
    bytesOut: cell[BYTES_OUT] as number,
    points: cell[POINTS] as number,
    p50Ms: latencyQuantile(cell, 0.5, LATENCY) ?? null,
    p95Ms: latencyQuantile(cell, 0.95, LATENCY) ?? null
  }
}

export function pointsIn (cell: TallyCell): number {
  return cell[POINTS] as number
}

/** The q-quantile of the cell's latencies in ms (p99 for the ops page's hour per integration); null when empty. */
export function cellLatencyMs (cell: TallyCell, q: number): number | null {
  return latencyQuantile(cell, q, LATENCY) ?? null
}

export function outcomeCounts (cell: TallyCell): OutcomeCounts {
  const counts = { total: 0 } as OutcomeCounts
  CALL_OUTCOMES.forEach((outcome, index) => {
    counts[outcome] = cell[index] as number
    counts.total += cell[index] as number
  })
  return counts
}

/** The cell as text for Redis (fleet mode): its numbers comma-separated, trailing zeros left out. */
export function encodeCell (cell: TallyCell): string {
  let end = CELL_WIDTH
  while (end > 1 && cell[end - 1] === 0) end--
  return Array.prototype.join.call(cell.subarray(0, end), ',')
}

/** A cell read back from Redis; undefined for anything that is not one (garbage, another version's format). */
export function decodeCell (text: string): TallyCell | undefined {
  const parts = text.split(',')
  if (parts.length > CELL_WIDTH) return undefined
  const cell = emptyCell()
  for (let index = 0; index < parts.length; index++) {
    const value = Number(parts[index])
    if (parts[index] === '' || !Number.isFinite(value) || value < 0) return undefined
    cell[index] = value
  }
  return cell
}

/** The one sort order of every list of labels (callers, integrations, pods): plain code-unit order, the same in every
 * locale, so the JSON and the page's CSV sort alike everywhere. */
export function compareLabels (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** Series by caller, then integration, in that order. */
export function compareSeries (
  a: { caller: string, integration: string },
  b: { caller: string, integration: string }
): number {
  return compareLabels(a.caller, b.caller) || compareLabels(a.integration, b.integration)
}
