/**
 * The proxy's `admit` hook, and the one owner of what each limit means. An integration on quota hold is refused
 * first (without spending anything), then, in this order:
 * - the integration's `budget`: one per integration, shared by its callers;
 * - calls in flight: the rule's `maxConcurrent` per rule × caller, or else the caller's default share
 *   (`limits.callerMaxConcurrent`) per caller over every rule without one, each call holding exactly one slot;
 * - the matching rule's `rateLimit`: one per rule × caller (a call refused here gives its slot back).
 * Where each is counted is the backend's business (limit-backend.ts): this process (local-limits.ts) or, in fleet
 * mode, Redis with this process as the fallback (src/fleet/fleet-admission.ts). Admission stays synchronous unless a
 * backend must ask Redis, so the common path costs no promise.
 */
import { integrationNamed } from '../config/integration-lookup.js'
import type { IntegrationConfig } from '../config/schema.js'
import { CallerRateLimitedError, withRetryAfter } from '../errors.js'
import type { CompiledRule, RateLimitRule } from '../policy/policy.js'
import type { LimitBackend, Release } from './limit-backend.js'
import type { QuotaHold } from './quota-hold.js'

export type Admit = (caller: string, integration: string, rule: CompiledRule) => Release | Promise<Release>

export interface AdmissionParts {
  quotaHold: QuotaHold
  backend: LimitBackend
  integrations?: Readonly<Record<string, IntegrationConfig>>
  /** Calls one caller may have in flight over every rule without its own maxConcurrent (unlimited when absent). */
  defaultMaxConcurrent?: number
}

/** Applies `next` at once to a plain value, after it to a promise: the synchronous path stays synchronous. */
function then<T, U> (value: T | Promise<T>, next: (settled: T) => U | Promise<U>): U | Promise<U> {
  return value instanceof Promise ? value.then(next) : next(value)
}

export function createAdmission (parts: AdmissionParts): Admit {
  // Read per call from the live integrations (src/config/live-config.ts), so a reload's budget applies at once; one
  // RateLimitRule per integration config object (a reload replaces the object, never edits it).
  const budgets = new WeakMap<IntegrationConfig, RateLimitRule | undefined>()
  const budgetOf = (integration: string): RateLimitRule | undefined => {
    const config = integrationNamed(parts.integrations ?? {}, integration)
    if (config === undefined) return undefined
    if (!budgets.has(config)) {
      const budget = config.budget
      budgets.set(config, budget === undefined
        ? undefined
        : { perSecond: budget.perSecond, burst: budget.burst ?? Math.max(1, Math.ceil(budget.perSecond)) })
    }
    return budgets.get(config)
  }
  const { backend, defaultMaxConcurrent } = parts

  const refuse = (caller: string, integration: string, waitMs: number): never => {
    throw withRetryAfter(new CallerRateLimitedError(caller, integration), waitMs / 1000)
  }
  const rate = (caller: string, integration: string, rule: CompiledRule, release: Release):
  Release | Promise<Release> => {
    if (rule.rateLimit === undefined) return release
    return then(backend.takeRate(rule, caller, rule.rateLimit), (waitMs) => {
      if (waitMs > 0) {
        release()
        refuse(caller, integration, waitMs)
      }
      return release
    })
  }
  // Calls in flight before the rate: a caller at its concurrency limit is refused without spending its rate tokens.
  const slotThenRate = (caller: string, integration: string, rule: CompiledRule): Release | Promise<Release> => {
    // The rule's own maxConcurrent replaces the caller's default share: a call is counted against one of them.
    const limit = rule.maxConcurrent ?? defaultMaxConcurrent
    if (limit === undefined) return rate(caller, integration, rule, noop)
    return then(backend.takeSlot(caller, rule.maxConcurrent === undefined ? undefined : rule, limit), (release) => {
      if (release === false) throw withRetryAfter(new CallerRateLimitedError(caller, integration), 1)
      return rate(caller, integration, rule, release)
    })
  }

  return (caller, integration, rule) => {
    parts.quotaHold.check(integration)
    const budget = budgetOf(integration)
    if (budget === undefined) return slotThenRate(caller, integration, rule)
    return then(backend.takeBudget(integration, caller, budget), (waitMs) => {
      if (waitMs > 0) refuse(caller, integration, waitMs)
      return slotThenRate(caller, integration, rule)
    })
  }
}

function noop (): void {}
