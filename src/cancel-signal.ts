/**
 * What the broker reads of a signal that says a caller has gone: `aborted`, `reason` and the "abort" listener, the
 * part undici reads of a request's `signal`. The forwarder's CallerGone (src/upstream/caller-gone.ts) is one, an
 * AbortSignal another; the seat queue (src/limits/seat-queue.ts) and the retry wait both read it.
 */
export interface CancelSignal {
  readonly aborted: boolean
  readonly reason: unknown
  addEventListener (type: 'abort', listener: () => void, options?: { once?: boolean }): void
  removeEventListener (type: 'abort', listener: () => void): void
}
