/** Time as a dependency, so expiry, renewal and backoff logic can be tested with an injected clock. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
  /** Like setTimeout, but the returned handle never keeps the process alive. */
  setTimer(callback: () => void, delayMs: number): TimerHandle
  clearTimer(handle: TimerHandle): void
}

export interface TimerHandle { readonly id: unknown }

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer (callback, delayMs) {
    const timer = setTimeout(callback, delayMs)
    timer.unref()
    return { id: timer }
  },
  clearTimer (handle) { clearTimeout(handle.id as NodeJS.Timeout) }
}
