/**
 * The signal that tells the forwarder its caller has gone (the connection closed before the answer was sent), so
 * the upstream request, or a retry's wait, is given up. An AbortController per request costs about 4% of a proxied
 * call's CPU in Node 20 (its EventTarget set-up, the `signal` getter, and undici's addEventListener on it; bench
 * profile) for an event that almost never happens. This carries only what undici (`signal` of a request: `aborted`,
 * `reason`, add/removeEventListener of "abort") and the retry wait read from a signal; a real AbortSignal fits the
 * same type (src/cancel-signal.ts), so tests and other callers may still pass one.
 */
import type { CancelSignal } from '../cancel-signal.js'

export class CallerGone implements CancelSignal {
  aborted = false
  reason: unknown = undefined
  /** Usually one listener (undici's), or two during a retry's wait. */
  #listeners: Array<() => void> = []

  addEventListener (_type: 'abort', listener: () => void): void {
    if (this.aborted) return
    this.#listeners.push(listener)
  }

  removeEventListener (_type: 'abort', listener: () => void): void {
    const index = this.#listeners.indexOf(listener)
    if (index !== -1) this.#listeners.splice(index, 1)
  }

  /** Fires every listener once, with the same reason an AbortController gives. */
  abort (): void {
    if (this.aborted) return
    this.aborted = true
    this.reason = new DOMException('This operation was aborted', 'AbortError')
    const listeners = this.#listeners
    this.#listeners = []
    for (const listener of listeners) listener()
  }
}
