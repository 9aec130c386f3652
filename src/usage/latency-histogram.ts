/**
 * A small fixed-bucket latency histogram (30 counters) with interpolated quantiles: enough for p50/p95 on an ops page
 * with bounded memory, and mergeable by adding counters, so per-minute buckets add up to any window (and, in fleet
 * mode, any number of pods). The counters live inside a tally cell (tally-cell.ts); these functions read and bump them.
 */

/** Upper bounds in milliseconds; a last, open bucket holds anything slower. */
export const LATENCY_BOUNDS_MS: readonly number[] = [
  1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1_000, 1_500, 2_000, 3_000, 5_000, 7_000,
  10_000, 15_000, 20_000, 30_000, 60_000, 120_000
]

export const LATENCY_BUCKETS = LATENCY_BOUNDS_MS.length + 1

/** The bucket a duration falls in. */
export function latencyBucket (ms: number): number {
  const index = LATENCY_BOUNDS_MS.findIndex((bound) => ms <= bound)
  return index === -1 ? LATENCY_BOUNDS_MS.length : index
}

/**
 * The q-quantile in ms, interpolated inside its bucket; undefined when empty. `counts` holds LATENCY_BUCKETS counters
 * starting at `offset`.
 */
export function latencyQuantile (counts: ArrayLike<number>, q: number, offset = 0): number | undefined {
  let count = 0
  for (let index = 0; index < LATENCY_BUCKETS; index++) count += counts[offset + index] ?? 0
  if (count === 0) return undefined
  const rank = Math.max(1, Math.ceil(q * count))
  let seen = 0
  for (let index = 0; index < LATENCY_BUCKETS; index++) {
    const inBucket = counts[offset + index] ?? 0
    if (seen + inBucket >= rank) {
      const lower = index === 0 ? 0 : LATENCY_BOUNDS_MS[index - 1] ?? 0
      const upper = LATENCY_BOUNDS_MS[index] ?? lower
      return Math.round((lower + (upper - lower) * ((rank - seen) / inBucket)) * 100) / 100
    }
    seen += inBucket
  }
  return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1]
}
