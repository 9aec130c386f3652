/**
 * When to retry an upstream answer, as Atlassian recommends (developer.atlassian.com/cloud/jira/platform/rate-limiting,
 * "build an app that respects rate limits"): "Only retry if the API is idempotent and the response includes a
 * Retry-After header"; honour Retry-After as the minimum delay; exponential backoff from 2 s with a 0.7-1.3 jitter;
 * cap the tries (4). A quota 429 is not retried: the quota hold pauses the whole integration instead.
 * The total time spent (answers and waits) stays under `maxTotalDelayMs`, so a caller's own timeout is not outlived.
 */
import type { Clock } from '../clock.js'
import type { CancelSignal } from '../cancel-signal.js'
import { isQuotaReason, type UpstreamRateLimit } from '../atlassian/rate-limit-headers.js'

export interface RetryOptions {
  enabled: boolean
  /** Tries in all, the first included. */
  maxTries: number
  /** Budget from the first send to the start of the last try. */
  maxTotalDelayMs: number
  baseDelayMs: number
}

export const DEFAULT_RETRY: RetryOptions = { enabled: false, maxTries: 4, maxTotalDelayMs: 15_000, baseDelayMs: 2_000 }

/** RFC 9110 section 9.2.2 idempotent methods; they are retried only without a body. */
export const RETRYABLE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'])

export interface RetryQuestion {
  method: string
  hasBody: boolean
  /** Tries already made (1 after the first answer). */
  triesSoFar: number
  statusCode: number
  /** The answer's rate-limit headers, as the send parsed them. */
  rateLimit: UpstreamRateLimit
  /** Since the first send. */
  elapsedMs: number
  /** A number in [0, 1); Math.random in production. */
  random: () => number
}

/** The delay before the next try, or undefined when the answer should go back to the caller as it is. */
export function retryDelayMs (options: RetryOptions, question: RetryQuestion): number | undefined {
  if (!options.enabled || question.triesSoFar >= options.maxTries) return undefined
  if (question.statusCode !== 429 && question.statusCode !== 503) return undefined
  if (!RETRYABLE_METHODS.has(question.method) || question.hasBody) return undefined
  const { enforced } = question.rateLimit
  if (enforced.retryAfterMs === undefined || isQuotaReason(enforced.reason)) return undefined
  const jitter = 0.7 + 0.6 * question.random()
  const backoffMs = options.baseDelayMs * 2 ** (question.triesSoFar - 1) * jitter
  const delayMs = Math.round(Math.max(enforced.retryAfterMs, backoffMs))
  return question.elapsedMs + delayMs > options.maxTotalDelayMs ? undefined : delayMs
}

export type Sleep = (ms: number, signal: CancelSignal) => Promise<void>

/** A sleep on the injected clock (tests advance a manual clock instead of waiting); aborts with the caller. */
export function sleepOn (clock: Clock): Sleep {
  return (ms, signal) => new Promise<void>((resolve, reject) => {
    if (signal.aborted) { reject(abortReason(signal)); return }
    const onAbort = (): void => {
      clock.clearTimer(handle)
      reject(abortReason(signal))
    }
    const handle = clock.setTimer(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/** What abort() was given (an Error in practice), so the caller sees its own reason. */
function abortReason (signal: CancelSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason))
}
