/**
 * Bounded label values for metrics and the usage view. Callers and integrations come from config, never raw from a
 * request: a caller no policy rule names exactly is `other`, a failed authentication `unauthenticated`, and a request
 * naming no configured integration `unknown`. So a client sending random paths, callers or integrations cannot grow
 * the number of series.
 */
import { isHttpMethod } from '../policy/http-methods.js'

export const OTHER_CALLER = 'other'
export const UNAUTHENTICATED_CALLER = 'unauthenticated'
export const UNKNOWN_INTEGRATION = 'unknown'

export interface Labels {
  caller (id: string | undefined): string
  integration (name: string | undefined): string
  method (method: string): string
  statusClass (statusCode: number): string
  /** Every integration label that can occur (configured names and `unknown`). */
  readonly integrations: readonly string[]
}

export function createLabels (integrations: Iterable<string>, knownCallers: ReadonlySet<string>): Labels {
  const configured = new Set(integrations)
  return {
    caller: (id) => id === undefined ? UNAUTHENTICATED_CALLER : knownCallers.has(id) ? id : OTHER_CALLER,
    integration: (name) => name !== undefined && configured.has(name) ? name : UNKNOWN_INTEGRATION,
    method: (method) => isHttpMethod(method) ? method : 'OTHER',
    statusClass: (statusCode) => statusCode >= 100 && statusCode < 600 ? `${Math.floor(statusCode / 100)}xx` : 'other',
    integrations: [...configured, UNKNOWN_INTEGRATION]
  }
}
