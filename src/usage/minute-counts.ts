/**
 * Counts per bounded key per minute over the last hour: a ring of 60 minutes, each a small map. The ops view's hour of
 * failures by integration × status × code (failure-log.ts) and of token exchanges by integration × outcome read it.
 * Keys are made of bounded labels only (configured names, status numbers, the broker's stable codes), so memory is
 * bounded by the labels, never by traffic.
 */
import type { Clock } from '../clock.js'
import { MINUTE_MS, TALLY_MINUTES } from './tally.js'

interface Slot { minute: number, counts: Map<string, number> }

export class MinuteCounts {
  readonly #clock: Clock
  readonly #ring: Array<Slot | undefined> = new Array<Slot | undefined>(TALLY_MINUTES)

  constructor (clock: Clock) {
    this.#clock = clock
  }

  #minute (): number {
    return Math.floor(this.#clock.now() / MINUTE_MS)
  }

  add (key: string): void {
    const minute = this.#minute()
    const index = minute % TALLY_MINUTES
    let slot = this.#ring[index]
    if (slot === undefined || slot.minute !== minute) {
      slot = { minute, counts: new Map() }
      this.#ring[index] = slot
    }
    slot.counts.set(key, (slot.counts.get(key) ?? 0) + 1)
  }

  /** Each key's count over the last hour (the current minute included). */
  lastHour (): Map<string, number> {
    const first = this.#minute() - TALLY_MINUTES + 1
    const totals = new Map<string, number>()
    for (const slot of this.#ring) {
      if (slot === undefined || slot.minute < first) continue
      for (const [key, count] of slot.counts) totals.set(key, (totals.get(key) ?? 0) + count)
    }
    return totals
  }

  /** Per minute of the last hour, oldest first: each key's count in that minute (minutes without any are empty). */
  minutes (): Array<{ minute: number, counts: ReadonlyMap<string, number> }> {
    const first = this.#minute() - TALLY_MINUTES + 1
    return Array.from({ length: TALLY_MINUTES }, (_, index) => {
      const minute = first + index
      const slot = this.#ring[minute % TALLY_MINUTES]
      return { minute, counts: slot !== undefined && slot.minute === minute ? slot.counts : new Map<string, number>() }
    })
  }
}
