/**
 * The retry layer around a send: an answer retry-policy.ts says to retry (an idempotent, bodiless request answered
 * 429/503 with Retry-After) is drained and sent again after the policy's delay. The wait runs on the injected clock and
 * ends early, rejecting with the caller's reason, when the caller goes away (caller-gone.ts), so no upstream call is
 * made for a caller that is gone.
 */
import type { Clock } from '../clock.js'
import { retryDelayMs, type RetryOptions, type Sleep } from './retry-policy.js'
import type { Send } from './upstream-send.js'

export interface RetryLayerOptions {
  retry: RetryOptions
  clock: Clock
  sleep: Sleep
  /** A number in [0, 1) for the jitter; Math.random in production. */
  random: () => number
}

export function withRetry (next: Send, options: RetryLayerOptions): Send {
  const { retry, clock, sleep, random } = options
  return async (request, target, body) => {
    const startedAt = clock.now()
    const hasBody = !body.replayable || (body.length ?? 0) > 0
    for (let tries = 1; ; tries++) {
      const answer = await next(request, target, body)
      const delayMs = retryDelayMs(retry, {
        method: request.method,
        hasBody,
        triesSoFar: tries,
        statusCode: answer.statusCode,
        rateLimit: answer.rateLimit,
        elapsedMs: clock.now() - startedAt,
        random
      })
      if (delayMs === undefined) return answer
      answer.body.resume()
      await sleep(delayMs, request.signal)
    }
  }
}
