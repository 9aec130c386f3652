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

/**
 * `integrations`: fixed names, or the live integrations object (src/config/live-config.ts); `callers`: a fixed set,
 * or the live policy, whose `knownCallers` follows each reload. Read live, a caller or integration a reload added is
 * counted by its name, not as `other` / `unknown` (issue 24).
 */
export function createLabels (
  integrations: Iterable<string> | Readonly<Record<string, unknown>>,
  callers: ReadonlySet<string> | { readonly knownCallers: ReadonlySet<string> }
): Labels {
  const fixed = Symbol.iterator in integrations ? new Set(integrations as Iterable<string>) : undefined
  const live = integrations as Readonly<Record<string, unknown>>
  const isIntegration = (name: string): boolean => fixed === undefined ? Object.hasOwn(live, name) : fixed.has(name)
  const known = (): ReadonlySet<string> => 'knownCallers' in callers ? callers.knownCallers : callers
  return {
    caller: (id) => id === undefined ? UNAUTHENTICATED_CALLER : known().has(id) ? id : OTHER_CALLER,
    integration: (name) => name !== undefined && isIntegration(name) ? name : UNKNOWN_INTEGRATION,
    method: (method) => isHttpMethod(method) ? method : 'OTHER',
    statusClass: (statusCode) => statusCode >= 100 && statusCode < 600 ? `${Math.floor(statusCode / 100)}xx` : 'other',
    get integrations () { return [...(fixed ?? Object.keys(live)), UNKNOWN_INTEGRATION] }
  }
}
