/**
 * The proxy's `admit` hook, and the one owner of what each limit means. An integration on quota hold is refused
 * first (without spending anything), then, in this order:
 * - calls in flight: a seat of the integration (its upstream connections) and the rule's `maxConcurrent` per
 *   rule × caller, or else the caller's default share (`limits.callerMaxConcurrent`) per caller over every rule
 *   without one, each call holding exactly one slot. A call that finds neither free waits in its caller's queue
 *   (seat-queue.ts) instead of being refused; a fleet-scoped `maxConcurrent` is the exception: its count lives in
 *   Redis, which cannot say when another sidecar's call ends, so at its limit the call is refused as before;
 * - once the call holds its seat, the integration's `budget` (one per integration, shared by its callers), then the
 *   matching rule's `rateLimit` (one per rule × caller); a call refused by either gives its seat and slot back, and
 *   a call its queue refused has spent neither.
 * Where each is counted is the backend's business (limit-backend.ts): this process (local-limits.ts) or, in fleet
 * mode, Redis with this process as the fallback (src/fleet/fleet-admission.ts). Admission stays synchronous unless a
 * call must wait or a backend must ask Redis, so the common path costs no promise.
 */
import type { CancelSignal } from '../cancel-signal.js'
import { integrationNamed } from '../config/integration-lookup.js'
import type { IntegrationConfig } from '../config/schema.js'
import { CallerPointsLimitedError, CallerRateLimitedError, withRetryAfter } from '../errors.js'
import type { CompiledRule, RateLimitRule } from '../policy/policy.js'
import type { LimitBackend, PointsLimit, Release } from './limit-backend.js'
import type { QuotaHold } from './quota-hold.js'
import type { SeatQueue } from './seat-queue.js'

/** `gone` takes a waiting call out of its queue when its caller goes away. */
export type Admit = (caller: string, integration: string, rule: CompiledRule, gone?: CancelSignal) =>
Release | Promise<Release>

export interface AdmissionParts {
  quotaHold: QuotaHold
  backend: LimitBackend
  /** Where calls wait for a seat and their caller's slot. */
  queue: SeatQueue
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
  const budgets = new WeakMap<IntegrationConfig, Budget>()
  const budgetsOf = (integration: string): Budget => {
    const config = integrationNamed(parts.integrations ?? {}, integration)
    if (config === undefined) return NO_BUDGET
    let budget = budgets.get(config)
    if (budget === undefined) {
      const perSecond = config.budget?.perSecond
      const pointsPerHour = config.budget?.pointsPerHour
      budget = {
        rate: perSecond === undefined
          ? undefined
          : { perSecond, burst: config.budget?.burst ?? Math.max(1, Math.ceil(perSecond)) },
        points: pointsPerHour === undefined ? undefined : { integration, pointsPerHour }
      }
      budgets.set(config, budget)
    }
    return budget
  }
  const budgetOf = (integration: string): RateLimitRule | undefined => budgetsOf(integration).rate
  const rulePoints = new WeakMap<CompiledRule, PointsLimit>()
  /** The points budgets a call is charged to: the integration's, shared, and its rule's own; none on most calls. */
  const pointsLimits = (integration: string, rule: CompiledRule): PointsLimit[] | undefined => {
    const shared = budgetsOf(integration).points
    if (shared === undefined && rule.pointsPerHour === undefined) return undefined
    const limits = shared === undefined ? [] : [shared]
    if (rule.pointsPerHour !== undefined) {
      let own = rulePoints.get(rule)
      if (own === undefined) {
        own = { integration, pointsPerHour: rule.pointsPerHour, rule }
        rulePoints.set(rule, own)
      }
      limits.push(own)
    }
    return limits
  }
  const { backend, queue, defaultMaxConcurrent } = parts

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
  // The shared budget, then the rule's rate, once the call holds its seat: a call refused by its queue (full, waited
  // too long, caller gone) never spent a token other callers share.
  const budgetThenRate = (caller: string, integration: string, rule: CompiledRule, release: Release):
  Release | Promise<Release> => {
    const budget = budgetOf(integration)
    if (budget === undefined) return rate(caller, integration, rule, release)
    return then(backend.takeBudget(integration, caller, budget), (waitMs) => {
      if (waitMs > 0) {
        release()
        refuse(caller, integration, waitMs)
      }
      return rate(caller, integration, rule, release)
    })
  }
  // Calls in flight before the budget and rate: a caller waiting for a seat or its slot has spent no tokens.
  const slotThenRate = (caller: string, integration: string, rule: CompiledRule, gone: CancelSignal | undefined):
  Release | Promise<Release> => {
    // The rule's own maxConcurrent replaces the caller's default share: a call is counted against one of them.
    const limit = rule.maxConcurrent ?? defaultMaxConcurrent
    if (rule.maxConcurrent !== undefined && rule.maxConcurrentScope === 'fleet') {
      return then(queue.acquire(caller, integration, freeSlot, gone), (seat) =>
        then(backend.takeSlot(caller, rule, rule.maxConcurrent ?? 1), (slot) => {
          if (slot === false) {
            seat()
            throw withRetryAfter(new CallerRateLimitedError(caller, integration), 1)
          }
          return budgetThenRate(caller, integration, rule, () => { slot(); seat() })
        }))
    }
    const slotRule = rule.maxConcurrent === undefined ? undefined : rule
    const takeSlot = limit === undefined
      ? freeSlot
      : () => {
          const slot = backend.takeSlot(caller, slotRule, limit)
          // Only a fleet-scoped slot asks Redis (handled above); every other one is counted in this process.
          if (slot instanceof Promise) throw new TypeError('a pod-scoped slot must be counted synchronously')
          return slot
        }
    const seat = queue.acquire(caller, integration, takeSlot, gone)
    return then(seat, (release) => budgetThenRate(caller, integration, rule, release))
  }

  // Points are known only when the answer has ended: before the call, each budget's share must still hold a point
  // (refusing spends nothing); the call's release charges what the answer cost (src/upstream/caller-call.ts).
  const charged = (caller: string, limits: readonly PointsLimit[], release: Release): Release => {
    let done = false
    return (points) => {
      if (done) return
      done = true
      release()
      if (points !== undefined && points > 0) for (const limit of limits) backend.chargePoints(limit, caller, points)
    }
  }

  return (caller, integration, rule, gone) => {
    parts.quotaHold.check(integration)
    const limits = pointsLimits(integration, rule)
    if (limits === undefined) return slotThenRate(caller, integration, rule, gone)
    for (const limit of limits) {
      const waitMs = backend.pointsRoom(limit, caller)
      if (waitMs > 0) throw withRetryAfter(new CallerPointsLimitedError(caller, integration), waitMs / 1000)
    }
    return then(slotThenRate(caller, integration, rule, gone), (release) => charged(caller, limits, release))
  }
}

interface Budget { rate: RateLimitRule | undefined, points: PointsLimit | undefined }
const NO_BUDGET: Budget = { rate: undefined, points: undefined }

function noop (): void {}

/** No concurrency limit of the caller's own: only the seat counts. */
function freeSlot (): Release { return noop }
