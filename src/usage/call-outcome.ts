/**
 * What became of a proxied call, in the terms ops ask about: did it work, who refused it (the broker or Atlassian),
 * who rate-limited it (the caller's own limit, a quota hold, or Atlassian), or did it fail (5xx, timeouts).
 * Pure: read from the call's status, the broker's error code (set only when the broker answered itself) and the
 * upstream status.
 */
export const CALL_OUTCOMES = [
  /** 1xx-3xx (in practice 2xx). */
  'ok',
  /** 4xx answered by the broker with a BROKER_ERR_* code (401 token, 403 policy/admin, 404 integration, 400/413/431).
   */
  'brokerRefused',
  /** 4xx from Atlassian (401/403/404/400...) passed through. */
  'atlassianRefused',
  /** 429 BROKER_ERR_CALLER_RATE_LIMITED: the policy rule's rateLimit/fleet maxConcurrent or the integration's budget
   * (BROKER_ERR_CALLER_POINTS_LIMITED: its points);
   *  BROKER_ERR_CALLER_QUEUE_*: the caller's queue was full or its call waited too long for a seat. */
  'callerLimited',
  /** 429 BROKER_ERR_UPSTREAM_RATE_LIMITED: the integration is held after an Atlassian quota 429. */
  'quotaHeld',
  /** 429 from Atlassian itself. */
  'atlassianLimited',
  /** 5xx, the broker's (502/503/504 incl. timeouts) or Atlassian's. */
  'failed'
] as const

export type CallOutcome = typeof CALL_OUTCOMES[number]

/**
 * What "error" means everywhere (`/admin/usage`'s `errors`, the fleet view, the ops page): every outcome but `ok`, that
 * is every answer with status 400 and above, whoever gave it. Counted from the outcomes, so the figures cannot
 * disagree.
 */
export const ERROR_OUTCOMES: readonly CallOutcome[] = CALL_OUTCOMES.filter((outcome) => outcome !== 'ok')

/** The 429s (`rateLimited`), whoever limited the call: the caller's own limit, a quota hold, or Atlassian. */
export const RATE_LIMITED_OUTCOMES: readonly CallOutcome[] = ['callerLimited', 'quotaHeld', 'atlassianLimited']

export interface OutcomeInput {
  statusCode: number
  /** The broker's stable code when it answered with an error itself; undefined for answers passed through. */
  errorCode: string | undefined
}

export function callOutcome (call: OutcomeInput): CallOutcome {
  const status = call.statusCode
  if (status < 400) return 'ok'
  if (status >= 500) return 'failed'
  if (status === 429) {
    if (call.errorCode === 'BROKER_ERR_CALLER_RATE_LIMITED' || call.errorCode === 'BROKER_ERR_CALLER_POINTS_LIMITED' || call.errorCode?.startsWith('BROKER_ERR_CALLER_QUEUE_') === true) return 'callerLimited'
    if (call.errorCode === 'BROKER_ERR_UPSTREAM_RATE_LIMITED') return 'quotaHeld'
    return call.errorCode === undefined ? 'atlassianLimited' : 'brokerRefused'
  }
  return call.errorCode === undefined ? 'atlassianRefused' : 'brokerRefused'
}
