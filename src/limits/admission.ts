/**
 * The proxy's `admit` hook: an integration on quota hold is refused first (without spending the caller's budget),
 * then the caller's own limits of the matching rule apply.
 */
import type { CompiledRule } from '../policy/policy.js'
import type { CallerLimits } from './caller-limits.js'
import type { QuotaHold } from './quota-hold.js'

export type Admit = (caller: string, integration: string, rule: CompiledRule) => (() => void)

export function createAdmission (parts: { quotaHold: QuotaHold, callerLimits: CallerLimits }): Admit {
  return (caller, integration, rule) => {
    parts.quotaHold.check(integration)
    return parts.callerLimits.admit(caller, integration, rule)
  }
}
