/**
 * Log sampling for unauthenticated refusals (4xx answers to requests without a valid caller token: 401s, 404s on
 * made-up routes, targets the router or the HTTP parser refuses): anyone who can reach the listener can cause them,
 * one log line each, so a flood would grow the log without bound (issue 16: 42 MB seen).
 * The first `perMinute` of each minute are logged as usual; the rest are counted, and the count is reported in one
 * line with the first refusal of a later minute. Metrics still count every refusal (`broker_requests_total`).
 */
import type { Logger } from 'pino'

const WINDOW_MS = 60_000

export class RefusalSampler {
  readonly #perMinute: number
  readonly #logger: Logger
  readonly #now: () => number
  #windowStart = -Infinity
  #logged = 0
  #suppressed = 0

  constructor (options: { perMinute: number, logger: Logger, now?: () => number }) {
    this.#perMinute = options.perMinute
    this.#logger = options.logger
    this.#now = options.now ?? Date.now
  }

  /** True when this refusal's log line should be written; false when it is only counted. */
  admit (): boolean {
    const now = this.#now()
    if (now - this.#windowStart >= WINDOW_MS) {
      if (this.#suppressed > 0) {
        this.#logger.warn({ suppressed: this.#suppressed, perMinute: this.#perMinute }, `${this.#suppressed} unauthenticated refusals were not logged (more than logging.refusalsPerMinute)`)
      }
      this.#windowStart = now
      this.#logged = 0
      this.#suppressed = 0
    }
    if (this.#logged < this.#perMinute) {
      this.#logged++
      return true
    }
    this.#suppressed++
    return false
  }
}
