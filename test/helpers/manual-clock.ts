/** A clock the test moves by hand: timers fire only when `advance` passes their due time. */
import type { Clock, TimerHandle } from '../../src/clock.js'

interface PendingTimer { due: number, callback: () => void, handle: TimerHandle }

export class ManualClock implements Clock {
  #now: number
  #timers: PendingTimer[] = []

  constructor (start = Date.parse('2026-11-23T12:00:00Z')) { this.#now = start }

  now (): number { return this.#now }

  setTimer (callback: () => void, delayMs: number): TimerHandle {
    const handle: TimerHandle = { id: Symbol('timer') }
    this.#timers.push({ due: this.#now + Math.max(0, delayMs), callback, handle })
    return handle
  }

  clearTimer (handle: TimerHandle): void {
    this.#timers = this.#timers.filter((timer) => timer.handle !== handle)
  }

  get pendingTimers (): number { return this.#timers.length }

  /** Moves time forward, firing due timers in order and letting promise callbacks run between them. */
  async advance (ms: number): Promise<void> {
    const target = this.#now + ms
    for (;;) {
      const next = this.#timers.filter((timer) => timer.due <= target).sort((a, b) => a.due - b.due)[0]
      if (next === undefined) break
      this.#timers = this.#timers.filter((timer) => timer !== next)
      this.#now = Math.max(this.#now, next.due)
      next.callback()
      await new Promise((resolve) => setImmediate(resolve))
    }
    this.#now = target
    await new Promise((resolve) => setImmediate(resolve))
  }
}
