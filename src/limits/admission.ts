/**
 * The proxy's `admit` hook: an integration on quota hold is refused first (without spending the caller's budget),
 * then the integration's shared `budget` (max-min fair among its callers), then the caller's own limits of the
 * matching rule. Budgets and `scope: fleet` rate limits are counted by `shared` in fleet mode (src/fleet/); without
 * it a budget is one bucket per integration in this process. Admission stays synchronous unless the fleet must be
 * asked (a lease ran out), so the common path costs no promise.
 */
import { systemClock, type Clock } from '../clock.js'
import type { IntegrationConfig } from '../config/schema.js'
import { CallerRateLimitedError, withRetryAfter } from '../errors.js'
import type { CompiledRule, RateLimitRule } from '../policy/policy.js'
import type { CallerLimits } from './caller-limits.js'
import type { QuotaHold } from './quota-hold.js'
import { TokenBucket } from './token-bucket.js'

export type Admit = (caller: string, integration: string, rule: CompiledRule) => (() => void) | Promise<() => void>

/** Counts a rate across the fleet: 0 when admitted, else the milliseconds until a retry may pass. */
export interface SharedLimits {
  take (key: string, caller: string, limit: RateLimitRule): number | Promise<number>
}

/** Counts calls in flight across the fleet: a release when admitted, false at the limit, undefined without Redis. */
export interface SharedSlots {
  take (key: string, limit: number): Promise<(() => void) | false | undefined>
}

export interface AdmissionParts {
  quotaHold: QuotaHold
  callerLimits: CallerLimits
  integrations?: Readonly<Record<string, IntegrationConfig>>
  clock?: Clock
  shared?: {
    limits: SharedLimits
    slots: SharedSlots
    budgetKey: (integration: string) => string
    ruleKey: (rule: number, caller: string) => string
  }
}

export function createAdmission (parts: AdmissionParts): Admit {
  const budgets = new Map<string, RateLimitRule>()
  for (const [name, config] of Object.entries(parts.integrations ?? {})) {
    if (config.budget !== undefined) {
      budgets.set(name, {
        perSecond: config.budget.perSecond,
        burst: config.budget.burst ?? Math.max(1, Math.ceil(config.budget.perSecond))
      })
    }
  }
  const localBudgets = new Map<string, TokenBucket>()
  /** What of a rule is still counted here when the fleet counts its rate and/or its concurrency (an unbounded
   *  maxConcurrent, not none: none would mean the per-caller default of caller-limits.ts). */
  const localParts = new WeakMap<CompiledRule, Map<string, CompiledRule>>()
  const localPart = (rule: CompiledRule, withoutRate: boolean, withoutConcurrency: boolean): CompiledRule => {
    const id = `${withoutRate}/${withoutConcurrency}`
    let parts = localParts.get(rule)
    if (parts === undefined) { parts = new Map(); localParts.set(rule, parts) }
    let part = parts.get(id)
    if (part === undefined) {
      part = {
        ...rule,
        ...(withoutRate ? { rateLimit: undefined } : {}),
        ...(withoutConcurrency ? { maxConcurrent: Number.POSITIVE_INFINITY } : {})
      }
      parts.set(id, part)
    }
    return part
  }
  const shared = parts.shared
  const clock = parts.clock ?? systemClock

  const refuse = (caller: string, integration: string, waitMs: number): never => {
    throw withRetryAfter(new CallerRateLimitedError(caller, integration), waitMs / 1000)
  }
  const local = (caller: string, integration: string, rule: CompiledRule, fleetSlot = false): () => void => {
    const fleetRate = shared !== undefined && rule.rateLimit?.scope === 'fleet'
    if (!fleetRate && !fleetSlot) return parts.callerLimits.admit(caller, integration, rule)
    return parts.callerLimits.admit(caller, integration, localPart(rule, fleetRate, fleetSlot))
  }
  /** maxConcurrentScope: fleet: a slot in Redis; without Redis the limit is counted here (the local part keeps it). */
  const withSlot = async (caller: string, integration: string, rule: CompiledRule): Promise<() => void> => {
    const slot = await (shared as NonNullable<typeof shared>).slots.take(`${(shared as NonNullable<typeof shared>).ruleKey(rule.index, caller)}:in-flight`, rule.maxConcurrent as number)
    if (slot === false) throw withRetryAfter(new CallerRateLimitedError(caller, integration), 1)
    if (slot === undefined) return local(caller, integration, rule)
    let release: () => void
    try {
      release = local(caller, integration, rule, true)
    } catch (error) {
      slot()
      throw error
    }
    return () => { release(); slot() }
  }
  const fleetSlots = (rule: CompiledRule): boolean => shared !== undefined && rule.maxConcurrent !== undefined && rule.maxConcurrentScope === 'fleet'

  return (caller, integration, rule) => {
    parts.quotaHold.check(integration)
    const waits: Array<number | Promise<number>> = []
    const budget = budgets.get(integration)
    if (budget !== undefined) {
      if (shared !== undefined) waits.push(shared.limits.take(shared.budgetKey(integration), caller, budget))
      else {
        let bucket = localBudgets.get(integration)
        if (bucket === undefined) {
          bucket = new TokenBucket(budget.perSecond, budget.burst, clock.now())
          localBudgets.set(integration, bucket)
        }
        waits.push(bucket.take(clock.now()))
      }
    }
    if (shared !== undefined && rule.rateLimit?.scope === 'fleet') waits.push(shared.limits.take(shared.ruleKey(rule.index, caller), '-', rule.rateLimit))
    if (waits.every((wait) => typeof wait === 'number')) {
      const waitMs = Math.max(0, ...(waits as number[]))
      if (waitMs > 0) refuse(caller, integration, waitMs)
      return fleetSlots(rule) ? withSlot(caller, integration, rule) : local(caller, integration, rule)
    }
    return Promise.all(waits).then((settled) => {
      const waitMs = Math.max(0, ...settled)
      if (waitMs > 0) refuse(caller, integration, waitMs)
      return fleetSlots(rule) ? withSlot(caller, integration, rule) : local(caller, integration, rule)
    })
  }
}
