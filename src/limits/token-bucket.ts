/**
 * A token bucket (capacity `burst`, refilled at `perSecond`), lazily refilled from an injected time: no timers.
 * Pure; the caller supplies `now` in epoch ms.
 */
export class TokenBucket {
  readonly #perSecond: number
  readonly #burst: number
  #tokens: number
  #updatedAt: number

  constructor (perSecond: number, burst: number, now: number) {
    this.#perSecond = perSecond
    this.#burst = burst
    this.#tokens = burst
    this.#updatedAt = now
  }

  /** Takes one token: 0 when granted, else the milliseconds until one will be available. */
  take (now: number): number {
    this.#refill(now)
    if (this.#tokens >= 1) {
      this.#tokens -= 1
      return 0
    }
    return Math.ceil(((1 - this.#tokens) / this.#perSecond) * 1000)
  }

  /** True when the bucket is back at capacity (it then carries no state worth keeping). */
  full (now: number): boolean {
    this.#refill(now)
    return this.#tokens >= this.#burst
  }

  #refill (now: number): void {
    const elapsedMs = Math.max(0, now - this.#updatedAt)
    this.#tokens = Math.min(this.#burst, this.#tokens + (elapsedMs / 1000) * this.#perSecond)
    this.#updatedAt = now
  }
}
