/**
 * Counts per bounded key per minute over the last hour: a ring of 60 minutes (minute-ring.ts), each a small map. The
 * ops view's hour of failures by integration × status × code (failure-log.ts) and of token exchanges by
 * integration × outcome read it.
 * Keys are made of bounded labels only (configured names, status numbers, the broker's stable codes), so memory is
 * bounded by the labels, never by traffic.
 */
import type { Clock } from '../clock.js'
import { epochMinute, HOUR_MINUTES, MinuteRing } from '../minute-ring.js'

export class MinuteCounts {
  readonly #clock: Clock
  readonly #ring = new MinuteRing<Map<string, number>>({ empty: () => new Map() })

  constructor (clock: Clock) {
    this.#clock = clock
  }

  add (key: string): void {
    const counts = this.#ring.at(epochMinute(this.#clock.now()))
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }

  /** Each key's count over the last hour (the current minute included). */
  lastHour (): Map<string, number> {
    const totals = new Map<string, number>()
    for (const counts of this.#ring.last(epochMinute(this.#clock.now()))) {
      for (const [key, count] of counts ?? []) totals.set(key, (totals.get(key) ?? 0) + count)
    }
    return totals
  }

  /** Per minute of the last hour, oldest first: each key's count in that minute (minutes without any are empty). */
  minutes (): Array<{ minute: number, counts: ReadonlyMap<string, number> }> {
    const now = epochMinute(this.#clock.now())
    const first = now - HOUR_MINUTES + 1
    return this.#ring.last(now).map((counts, index) => ({
      minute: first + index,
      counts: counts ?? new Map<string, number>()
    }))
  }
}
