/**
 * The recent past minute by minute: one slot per wall-clock minute (epoch ms / 60 000, read from the caller's injected
 * clock) in a ring of `minutes` slots, slot `minute mod minutes`. The one owner of "roll forward, empty a stale minute,
 * read the last N minutes" for the usage tally's cells (usage/tally.ts), the hour counters (usage/minute-counts.ts)
 * and Atlassian's headroom per minute (limits/quota-state.ts). A slot is made when its minute is first written and
 * emptied when another minute reuses it, so memory stays at `minutes` slots whatever the traffic or the gap between
 * writes. A leaf at src/'s top, not in usage/: limits/ sits below usage/ and needs it too.
 */

export const MINUTE_MS = 60_000
/** What "the last hour" holds: the current minute and the 59 before it. */
export const HOUR_MINUTES = 60

/** The epoch minute of an epoch-ms time: minutes start on the wall clock's whole minutes (UTC). */
export const epochMinute = (ms: number): number => Math.floor(ms / MINUTE_MS)

/** When an epoch minute starts, as the admin views write it: ISO 8601 in UTC. */
export const minuteIso = (minute: number): string => new Date(minute * MINUTE_MS).toISOString()

interface Slot<T> { minute: number, value: T }

export class MinuteRing<T> {
  readonly #slots: Array<Slot<T> | undefined>
  readonly #empty: () => T
  readonly #clear: ((value: T) => void) | undefined

  /**
   * `empty` makes a minute's value when the minute is first written; `clear`, when given, empties a stale value in
   * place instead (the tally's cells: no new array per series per minute).
   */
  constructor (options: { empty: () => T, clear?: (value: T) => void, minutes?: number }) {
    this.#slots = new Array<Slot<T> | undefined>(options.minutes ?? HOUR_MINUTES)
    this.#empty = options.empty
    this.#clear = options.clear
  }

  /** How many minutes the ring keeps. */
  get minutes (): number { return this.#slots.length }

  #index (minute: number): number {
    const size = this.#slots.length
    return ((minute % size) + size) % size
  }

  /** The value kept for `minute`, or undefined when nothing was written in it or its slot has moved on. */
  get (minute: number): T | undefined {
    const slot = this.#slots[this.#index(minute)]
    return slot !== undefined && slot.minute === minute ? slot.value : undefined
  }

  /**
   * `minute`'s value, to write into. A slot holding any other minute is emptied first: an hour old or more, or (the
   * clock stepped back) a later one, which the current minute replaces.
   */
  at (minute: number): T {
    const index = this.#index(minute)
    const slot = this.#slots[index]
    if (slot === undefined) {
      const value = this.#empty()
      this.#slots[index] = { minute, value }
      return value
    }
    if (slot.minute !== minute) {
      slot.minute = minute
      if (this.#clear === undefined) slot.value = this.#empty()
      else this.#clear(slot.value)
    }
    return slot.value
  }

  /**
   * The `count` minutes ending with `now` (an epoch minute), oldest first: element i is minute `now - count + 1 + i`,
   * undefined where nothing was written. A minute after `now` (written before the clock stepped back) is not among
   * them.
   */
  last (now: number, count: number = this.#slots.length): Array<T | undefined> {
    const first = now - count + 1
    return Array.from({ length: count }, (_unused, index) => this.get(first + index))
  }
}
