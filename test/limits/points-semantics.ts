/**
 * What a points budget means (docs/points.md), as a table of cases any admission backend must pass: the local one
 * (test/limits/points-admission) and the fleet one with Redis gone (test/fleet/fleet-points), which must fall back to
 * exactly the same. Points are charged through the release admission returns, as src/upstream/caller-call.ts does when
 * an answer's body has closed.
 */
import type { Test } from 'tap'
import type { IntegrationConfig } from '../../src/config/schema.js'
import { createAdmission, type Admit } from '../../src/limits/admission.js'
import type { LimitBackend, Release } from '../../src/limits/limit-backend.js'
import { QuotaHold } from '../../src/limits/quota-hold.js'
import { createLogger } from '../../src/logger.js'
import type { ManualClock } from '../helpers/manual-clock.js'
import { rule, seatQueue } from './admission-semantics.js'

export const POINTS_CODE = 'BROKER_ERR_CALLER_POINTS_LIMITED'

export function jira (pointsPerHour: number): IntegrationConfig {
  return { product: 'jira', cloudId: 'c', credential: 'oauth', budget: { pointsPerHour } } as unknown as IntegrationConfig
}

export type Outcome = { release: Release } | { code: string, retryAfter: number }

export async function call (admit: Admit, caller: string, compiled = rule(0)): Promise<Outcome> {
  try {
    return { release: await admit(caller, 'jira-main', compiled) }
  } catch (error) {
    const { code, retryAfterSeconds } = error as { code: string, retryAfterSeconds?: number }
    return { code, retryAfter: retryAfterSeconds ?? Number.NaN }
  }
}

/** Admits one call and charges it `points` when it ends; fails the test when refused. */
export async function spend (t: Test, admit: Admit, caller: string, points: number, compiled = rule(0)): Promise<void> {
  const outcome = await call(admit, caller, compiled)
  if (!('release' in outcome)) { t.fail(`${caller} refused: ${outcome.code}`); return }
  outcome.release(points)
}

export function pointsAdmission (
  clock: ManualClock, backend: LimitBackend, integrations: Record<string, IntegrationConfig>
): Admit {
  return createAdmission({
    quotaHold: new QuotaHold({ clock, logger: createLogger({ level: 'silent' }) }),
    backend,
    queue: seatQueue(clock),
    integrations
  })
}

export function pointsSemantics (
  t: Test, backend: (clock: ManualClock) => LimitBackend, clockOf: () => ManualClock
): void {
  t.test('a greedy caller is slowed (429, Retry-After) while another caller of the budget still gets through', async (t) => {
    const clock = clockOf()
    const admit = pointsAdmission(clock, backend(clock), { 'jira-main': jira(3_600) })
    await spend(t, admit, 'greedy-job', 200)
    const refused = await call(admit, 'greedy-job')
    t.match(refused, { code: POINTS_CODE }, 'its share is in debt: refused before the pool is empty')
    const retryAfter = 'retryAfter' in refused ? refused.retryAfter : 0
    t.ok(retryAfter > 60 && retryAfter <= 3_600, `Retry-After ${retryAfter} s: until its share has paid the debt`)
    t.ok('release' in await call(admit, 'light-job'), 'a light caller of the same budget is admitted')
    await clock.advance(retryAfter * 1_000)
    t.ok('release' in await call(admit, 'greedy-job'), 'after Retry-After the greedy caller gets through again')
  })

  t.test('a call that never got an answer is charged nothing; an integration without a points budget is free', async (t) => {
    const clock = clockOf()
    const admit = pointsAdmission(clock, backend(clock), { 'jira-main': jira(3_600) })
    for (let i = 0; i < 100; i++) {
      const outcome = await call(admit, 'job')
      if ('release' in outcome) outcome.release()
    }
    t.ok('release' in await call(admit, 'job'), 'releases without points charged nothing')
    const noBudget = { product: 'jira', cloudId: 'c', credential: 'oauth' } as unknown as IntegrationConfig
    const free = pointsAdmission(clock, backend(clock), { 'jira-main': noBudget })
    await spend(t, free, 'job', 100_000)
    t.ok('release' in await call(free, 'job'), 'no budget, no points limit')
  })

  t.test('a rule\'s pointsPerHour caps each matching caller on its own', async (t) => {
    const clock = clockOf()
    const admit = pointsAdmission(clock, backend(clock), { 'jira-main': { product: 'jira', cloudId: 'c', credential: 'oauth' } as never })
    const capped = rule(0, { pointsPerHour: 60 })
    await spend(t, admit, 'job-a', 5, capped)
    t.match(await call(admit, 'job-a', capped), { code: POINTS_CODE, retryAfter: 300 }, '60 points an hour: 5 points wait 5 minutes')
    t.ok('release' in await call(admit, 'job-b', capped), 'another caller of the rule has its own')
  })

  t.test('a reload that changes pointsPerHour applies at once', async (t) => {
    const clock = clockOf()
    const integrations: Record<string, IntegrationConfig> = { 'jira-main': jira(3_600) }
    const admit = pointsAdmission(clock, backend(clock), integrations)
    await spend(t, admit, 'job', 100)
    t.match(await call(admit, 'job'), { code: POINTS_CODE, retryAfter: 41 })
    // What LiveConfig does on reload: the integration's config object is replaced in the live record.
    integrations['jira-main'] = jira(360_000)
    await clock.advance(2_000)
    t.ok('release' in await call(admit, 'job'), 'at 100 points a second the debt is paid in under 2 s')
  })
}
