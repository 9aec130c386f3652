/**
 * Where admission's limits are counted: this process (local-limits.ts) or the fleet's Redis (src/fleet/, loaded only
 * in fleet mode). What each limit means is admission.ts's; a backend only counts, and both count the same things:
 * a budget per integration shared by its callers, a rate per rule × caller, a slot per rule × caller (or per caller
 * for its default share).
 */
import type { CompiledRule, RateLimitRule } from '../policy/policy.js'

/** Ends an admitted call: frees its slot; admission's own release also charges the call's points (when given) to its
 *  points budgets. Idempotent. */
export type Release = (points?: number) => void

/** A points budget (docs/points.md): the integration's `budget.pointsPerHour`, shared fairly by its callers, or, with
 *  `rule`, that rule's `pointsPerHour`, each caller's own. */
export interface PointsLimit {
  integration: string
  pointsPerHour: number
  rule?: CompiledRule | undefined
}

export interface LimitBackend {
  /** One token of the integration's budget for this caller's call: 0 when admitted, else the milliseconds to wait. */
  takeBudget (integration: string, caller: string, budget: RateLimitRule): number | Promise<number>
  /** One token of the rule's rateLimit for this caller: 0 when admitted, else the milliseconds to wait. */
  takeRate (rule: CompiledRule, caller: string, rateLimit: RateLimitRule): number | Promise<number>
  /** One of `limit` slots for calls in flight, of the rule × caller, or of the caller's default share when `rule` is
   *  undefined: a release when admitted, false at the limit. */
  takeSlot (caller: string, rule: CompiledRule | undefined, limit: number): Release | false | Promise<Release | false>
  /** Before a call (never a round trip): 0 when the caller's share of the points budget has a point left, else the
   *  milliseconds until it will. */
  pointsRoom (limit: PointsLimit, caller: string): number
  /** After the answer: the points it cost, charged to the caller's share. */
  chargePoints (limit: PointsLimit, caller: string, points: number): void
}
