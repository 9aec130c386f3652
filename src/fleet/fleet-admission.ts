/**
 * The fleet backend of admission (src/limits/limit-backend.ts): budgets and `scope: fleet` limits counted in Redis,
 * everything else, and everything while Redis cannot answer, in the local backend it wraps. So a limit means the same
 * with or without Redis: a budget falls back to one bucket per integration shared by its callers (not one per
 * caller), a fleet-scoped rate to one bucket per rule × caller, and a fleet-scoped slot to the local count. Each call
 * in flight holds exactly one slot: in Redis when Redis admitted it, locally otherwise (a call admitted by Redis does
 * not count locally, so the local count is not a second limit on top of the fleet's).
 */
import type { LimitBackend, PointsLimit, Release } from '../limits/limit-backend.js'
import { ruleKey, type CompiledRule, type RateLimitRule } from '../policy/policy.js'
import type { FleetLimits } from './fleet-limits.js'
import type { FleetPoints } from './fleet-points.js'
import type { FleetSlots } from './fleet-slots.js'
import type { FleetKeys } from './keys.js'

/** Redis's answer, or the local backend's when Redis had none (undefined), without a promise when neither needs one. */
function orLocal<T> (fleet: T | undefined | Promise<T | undefined>, local: () => T | Promise<T>): T | Promise<T> {
  if (fleet instanceof Promise) return fleet.then((answer) => answer === undefined ? local() : answer)
  return fleet === undefined ? local() : fleet
}

export class FleetAdmission implements LimitBackend {
  readonly #leases: FleetLimits
  readonly #slots: FleetSlots
  readonly #points: FleetPoints
  readonly #keys: FleetKeys
  readonly #local: LimitBackend

  constructor (options: {
    leases: FleetLimits
    slots: FleetSlots
    points: FleetPoints
    keys: FleetKeys
    local: LimitBackend
  }) {
    this.#points = options.points
    this.#leases = options.leases
    this.#slots = options.slots
    this.#keys = options.keys
    this.#local = options.local
  }

  takeBudget (integration: string, caller: string, budget: RateLimitRule): number | Promise<number> {
    const local = (): number | Promise<number> => this.#local.takeBudget(integration, caller, budget)
    return orLocal(this.#leases.take(this.#keys.budget(integration), caller, budget), local)
  }

  takeRate (rule: CompiledRule, caller: string, rateLimit: RateLimitRule): number | Promise<number> {
    const local = (): number | Promise<number> => this.#local.takeRate(rule, caller, rateLimit)
    if (rateLimit.scope !== 'fleet') return local()
    // One bucket per rule × caller for the whole fleet: the key names both, so the lease's caller is a placeholder.
    return orLocal(this.#leases.take(this.#keys.ruleLimit(ruleKey(rule), caller), '-', rateLimit), local)
  }

  /** Points budgets and rules' `pointsPerHour` are always fleet-wide in fleet mode: an hour's pool is the fleet's. */
  pointsRoom (limit: PointsLimit, caller: string): number {
    return this.#points.room(this.#pointsKey(limit, caller), caller) ?? this.#local.pointsRoom(limit, caller)
  }

  chargePoints (limit: PointsLimit, caller: string, points: number): void {
    const local = (lost: number): void => { this.#local.chargePoints(limit, caller, lost) }
    if (!this.#points.charge(this.#pointsKey(limit, caller), caller, limit.pointsPerHour, points, local)) local(points)
  }

  #pointsKey (limit: PointsLimit, caller: string): string {
    return limit.rule === undefined
      ? this.#keys.points(limit.integration)
      : this.#keys.rulePoints(ruleKey(limit.rule), caller)
  }

  takeSlot (caller: string, rule: CompiledRule | undefined, limit: number): Release | false | Promise<Release | false> {
    const local = (): Release | false | Promise<Release | false> => this.#local.takeSlot(caller, rule, limit)
    if (rule === undefined || rule.maxConcurrentScope !== 'fleet') return local()
    return orLocal(this.#slots.take(this.#keys.ruleSlots(ruleKey(rule), caller), limit), local)
  }
}
