/**
 * The token provider's negative cache: after Atlassian rejected a credential or its token endpoint was down, the same
 * failure is answered again (with the time left as Retry-After) until a capped exponential backoff runs out, so a bad
 * credential is not hammered. Other failures (a timeout, a bug) are not remembered.
 */
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import { CredentialRejectedError, errorCode, withRetryAfter } from '../errors.js'

const BACKOFF = {
  rejected: { baseMs: 5_000, maxMs: 300_000 },
  unavailable: { baseMs: 1_000, maxMs: 30_000 }
}

interface Failure { error: Error, until: number, count: number }

export class ExchangeBackoff {
  readonly #failures = new Map<string, Failure>()
  readonly #clock: Clock
  readonly #logger: Logger

  constructor (clock: Clock, logger: Logger) {
    this.#clock = clock
    this.#logger = logger
  }

  /** Throws the remembered failure while its backoff runs. */
  check (integration: string): void {
    const failure = this.#failures.get(integration)
    if (failure && this.#clock.now() < failure.until) {
      throw withRetryAfter(failure.error, (failure.until - this.#clock.now()) / 1000)
    }
  }

  /** A success, a new credential or an operator's drop: the next exchange is tried at once. */
  forget (integration: string): void {
    this.#failures.delete(integration)
  }

  remember (integration: string, error: Error): void {
    const rejected = error instanceof CredentialRejectedError
    const tokenEndpointDown = errorCode(error) === 'BROKER_ERR_TOKEN_ENDPOINT_UNAVAILABLE'
    if (!rejected && !tokenEndpointDown) return
    const policy = rejected ? BACKOFF.rejected : BACKOFF.unavailable
    const count = (this.#failures.get(integration)?.count ?? 0) + 1
    // The endpoint's own Retry-After, when it sent one, is a floor under our backoff.
    const askedMs = ((error as { retryAfterSeconds?: number }).retryAfterSeconds ?? 0) * 1000
    const delayMs = Math.max(askedMs, Math.min(policy.maxMs, policy.baseMs * 2 ** (count - 1)))
    this.#failures.set(integration, { error, until: this.#clock.now() + delayMs, count })
    // The first caller hears when to come back, like the ones answered from this negative cache.
    withRetryAfter(error, delayMs / 1000)
    this.#logger.error(
      {
        integration,
        code: errorCode(error),
        cause: (error.cause as Error | undefined)?.message,
        retryInSeconds: delayMs / 1000
      },
      rejected ? 'Atlassian rejected the credential; check or rotate it' : 'token endpoint unavailable'
    )
  }
}
