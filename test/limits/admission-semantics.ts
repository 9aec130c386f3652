/**
 * What each limit means, as a table of cases any admission backend must pass: the local one (test/limits/admission)
 * and the fleet one with Redis gone (test/fleet/fleet-admission), which must fall back to exactly the same.
 */
import type { Test } from 'tap'
import { createAdmission, type Admit } from '../../src/limits/admission.js'
import type { LimitBackend } from '../../src/limits/limit-backend.js'
import { QuotaHold } from '../../src/limits/quota-hold.js'
import { SeatQueue, type SeatQueueSettings } from '../../src/limits/seat-queue.js'
import { createLogger } from '../../src/logger.js'
import type { IntegrationConfig } from '../../src/config/schema.js'
import type { CompiledRule, RateLimitRule } from '../../src/policy/policy.js'
import type { ManualClock } from '../helpers/manual-clock.js'

export function rule (index: number, extra: Partial<CompiledRule> = {}): CompiledRule {
  return { index, caller: '*', integration: '*', methods: new Set(['GET']), paths: [], rateLimit: undefined, maxConcurrent: undefined, ...extra }
}

export const rate = (perSecond: number, burst: number, scope: RateLimitRule['scope'] = 'pod'): RateLimitRule => ({ perSecond, burst, scope })

/** Admits one call: its release, or the refusal's code and Retry-After. */
export type Attempt = { release: () => void } | { code: string, retryAfter: number }

export async function attempt (admit: Admit, caller: string, integration: string, compiled: CompiledRule):
Promise<Attempt> {
  try {
    return { release: await admit(caller, integration, compiled) }
  } catch (error) {
    const { code, retryAfterSeconds } = error as { code: string, retryAfterSeconds?: number }
    return { code, retryAfter: retryAfterSeconds ?? Number.NaN }
  }
}

/** A seat queue on the test's clock: many seats unless the test says otherwise. */
export function seatQueue (clock: ManualClock, settings: Partial<SeatQueueSettings> = {}): SeatQueue {
  return new SeatQueue({ clock, settings: { seats: 1_000, maxPerCaller: 1_000, maxWaitMs: 30_000, ...settings } })
}

/** Whether a call is still waiting: its attempt has not settled after the event loop turned. */
export async function isWaiting (call: Promise<unknown>): Promise<boolean> {
  const waiting = Symbol('waiting')
  const first = await Promise.race([call, new Promise((resolve) => { setImmediate(() => { resolve(waiting) }) })])
  return first === waiting
}

export type Call = [caller: string, integration: string, rule: CompiledRule]

export async function admittedOf (admit: Admit, calls: Call[]): Promise<number> {
  let admitted = 0
  for (const [caller, integration, compiled] of calls) if ('release' in await attempt(admit, caller, integration, compiled)) admitted++
  return admitted
}

const integrations = {
  'jira-main': { product: 'jira', cloudId: 'c', credential: 'oauth', budget: { perSecond: 10, burst: 4 } }
} as unknown as Record<string, IntegrationConfig>

/** The cases; `backend` builds a fresh backend on the given clock for each. */
export function semantics (t: Test, backend: (clock: ManualClock) => LimitBackend, clockOf: () => ManualClock): void {
  const admission = (clock: ManualClock, defaultMaxConcurrent?: number): Admit => createAdmission({
    quotaHold: new QuotaHold({ clock, logger: createLogger({ level: 'silent' }) }),
    backend: backend(clock),
    queue: seatQueue(clock),
    integrations,
    ...(defaultMaxConcurrent === undefined ? {} : { defaultMaxConcurrent })
  })

  t.test('a budget is one per integration, shared by its callers: burst N admits N in total, not N per caller', async (t) => {
    const clock = clockOf()
    const admit = admission(clock)
    const open = rule(0)
    t.equal(await admittedOf(admit, [['a', 'jira-main', open], ['b', 'jira-main', open], ['a', 'jira-main', open], ['b', 'jira-main', open], ['a', 'jira-main', open], ['b', 'jira-main', open]]), 4, 'the burst of 4 for both callers together')
    await clock.advance(100)
    t.equal(await admittedOf(admit, [['a', 'jira-main', open], ['b', 'jira-main', open]]), 1, '100 ms at 10/s: one more, for either caller')
    t.equal(await admittedOf(admit, [['a', 'wiki-main', open], ['a', 'wiki-main', open]]), 2, 'an integration without a budget is not limited')
  })

  t.test('a rule\'s rateLimit is one per rule × caller', async (t) => {
    const clock = clockOf()
    const admit = admission(clock)
    for (const scope of ['pod', 'fleet'] as const) {
      const limited = rule(scope === 'pod' ? 1 : 2, { rateLimit: rate(1, 2, scope) })
      t.equal(await admittedOf(admit, [['a', 'wiki-main', limited], ['a', 'wiki-main', limited], ['a', 'wiki-main', limited]]), 2, `${scope}: the burst`)
      t.equal(await admittedOf(admit, [['b', 'wiki-main', limited], ['b', 'wiki-main', limited], ['b', 'wiki-main', limited]]), 2, `${scope}: another caller has its own`)
      const refused = await attempt(admit, 'a', 'wiki-main', limited)
      t.same(refused, { code: 'BROKER_ERR_CALLER_RATE_LIMITED', retryAfter: 1 }, `${scope}: refused with Retry-After`)
    }
  })

  t.test('maxConcurrent is per rule × caller and a call holds one slot: a limit of 2 admits 2, a third waits for a slot (fleet scope: refused); the default share is counted once', async (t) => {
    const clock = clockOf()
    const admit = admission(clock, 1)
    for (const scope of ['pod', 'fleet'] as const) {
      const two = rule(scope === 'pod' ? 3 : 4, { maxConcurrent: 2, maxConcurrentScope: scope })
      const first = await attempt(admit, 'a', 'wiki-main', two)
      const second = await attempt(admit, 'a', 'wiki-main', two)
      t.ok('release' in first && 'release' in second, `${scope}: a limit of 2 admits 2 (the default share of 1 does not apply beside it)`)
      const third = attempt(admit, 'a', 'wiki-main', two)
      if (scope === 'pod') t.ok(await isWaiting(third), 'pod: not 3 at once: the third waits in the caller\'s queue')
      else t.same(await third, { code: 'BROKER_ERR_CALLER_RATE_LIMITED', retryAfter: 1 }, 'fleet: not 3: refused (Redis cannot tell when a slot frees)')
      t.ok('release' in await attempt(admit, 'b', 'wiki-main', two), `${scope}: another caller has its own`)
      if ('release' in first) { first.release(); first.release() }
      const next = scope === 'pod' ? await third : await attempt(admit, 'a', 'wiki-main', two)
      t.ok('release' in next, `${scope}: a slot freed (release is idempotent) goes to the next call`)
      const fourth = attempt(admit, 'a', 'wiki-main', two)
      if (scope === 'pod') t.ok(await isWaiting(fourth), 'pod: and only one: the fourth waits')
      else t.notOk('release' in await fourth, 'fleet: and only one')
      if ('release' in next) next.release()
      if (scope === 'pod') t.ok('release' in await fourth, 'pod: admitted when the slot frees')
    }
    const open = rule(5)
    const held = await attempt(admit, 'a', 'wiki-main', open)
    t.ok('release' in held, 'the default share of 1, over every rule without maxConcurrent')
    const other = attempt(admit, 'a', 'jira-main', rule(6))
    t.ok(await isWaiting(other), 'a second call by the same caller under another rule (and integration) waits')
    if ('release' in held) held.release()
    t.ok('release' in await other, 'the share freed on one integration admits the call waiting on another')
  })

  t.test('regression: a call refused for concurrency spent a rate token, so a caller at its limit emptied its own bucket (now: a waiting call spends none)', async (t) => {
    const clock = clockOf()
    const admit = admission(clock)
    const limited = rule(7, { maxConcurrent: 1, rateLimit: rate(1, 3) })
    const held = await attempt(admit, 'a', 'wiki-main', limited)
    t.ok('release' in held, 'one call in flight')
    const second = attempt(admit, 'a', 'wiki-main', limited)
    const third = attempt(admit, 'a', 'wiki-main', limited)
    t.ok(await isWaiting(second) && await isWaiting(third), 'two more wait for the slot, spending no rate token')
    if ('release' in held) held.release()
    const next = await second
    t.ok('release' in next, 'once the slot is free, the next call still finds one of its three rate tokens')
    if ('release' in next) next.release()
    const last = await third
    t.ok('release' in last, 'the third token')
    if ('release' in last) last.release()
    t.match(await attempt(admit, 'a', 'wiki-main', limited), { code: 'BROKER_ERR_CALLER_RATE_LIMITED' }, 'no token left: refused by the rate')
    await clock.advance(1_000)
    t.ok('release' in await attempt(admit, 'a', 'wiki-main', limited), 'a second later a token is back, and so is the slot the refusal by the rate took')
  })
}
