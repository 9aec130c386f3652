/**
 * A small fixed-bucket latency histogram (30 counters) with interpolated quantiles: enough for p50/p95 on an ops page
 * with bounded memory, and mergeable, so per-minute buckets add up to any window.
 */

/** Upper bounds in milliseconds; a last, open bucket holds anything slower. */
export const LATENCY_BOUNDS_MS: readonly number[] = [
  1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1_000, 1_500, 2_000, 3_000, 5_000, 7_000,
  10_000, 15_000, 20_000, 30_000, 60_000, 120_000
]

export class LatencyHistogram {
  readonly counts = new Uint32Array(LATENCY_BOUNDS_MS.length + 1)
  count = 0

  add (ms: number): void {
    let index = LATENCY_BOUNDS_MS.findIndex((bound) => ms <= bound)
    if (index === -1) index = LATENCY_BOUNDS_MS.length
    this.counts[index] = (this.counts[index] ?? 0) + 1
    this.count++
  }

  merge (other: LatencyHistogram): void {
    for (let index = 0; index < this.counts.length; index++) {
      this.counts[index] = (this.counts[index] ?? 0) + (other.counts[index] ?? 0)
    }
    this.count += other.count
  }

  /** The q-quantile in ms, interpolated inside its bucket; undefined when empty. */
  quantile (q: number): number | undefined {
    if (this.count === 0) return undefined
    const rank = Math.max(1, Math.ceil(q * this.count))
    let seen = 0
    for (let index = 0; index < this.counts.length; index++) {
      const inBucket = this.counts[index] ?? 0
      if (seen + inBucket >= rank) {
        const lower = index === 0 ? 0 : LATENCY_BOUNDS_MS[index - 1] ?? 0
        const upper = LATENCY_BOUNDS_MS[index] ?? lower
        return Math.round((lower + (upper - lower) * ((rank - seen) / inBucket)) * 100) / 100
      }
      seen += inBucket
    }
    return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1]
  }
}
