/**
 * Regression (issue 24 §4): narrowing a rateLimit or a budget by reload was logged "applied" while the old buckets
 * kept admitting (20 of 20 calls passed at 1/s). Buckets follow a rule's content and an integration's budget, read
 * from the live config: a changed limit gets a fresh bucket, an unchanged one keeps its own wherever it moves.
 */
import t from 'tap'
import { LiveConfig } from '../../src/config/live-config.js'
import type { IntegrationConfig, PolicyRuleConfig } from '../../src/config/schema.js'
import { createAdmission } from '../../src/limits/admission.js'
import type { Release } from '../../src/limits/limit-backend.js'
import { LocalLimits } from '../../src/limits/local-limits.js'
import { QuotaHold } from '../../src/limits/quota-hold.js'
import { createLogger } from '../../src/logger.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { seatQueue } from './admission-semantics.js'

const JIRA = '11111111-1111-1111-1111-111111111111'

type Setup = { live: LiveConfig, calls: (count: number) => number }

function setup (integration: IntegrationConfig, policy: PolicyRuleConfig[]): Setup {
  const clock = new ManualClock()
  const now = (): Date => new Date(clock.now())
  const live = new LiveConfig({ 'jira-main': integration }, policy, now)
  const admit = createAdmission({
    quotaHold: new QuotaHold({ clock, logger: createLogger({ level: 'silent' }) }),
    backend: new LocalLimits({ clock }),
    queue: seatQueue(clock),
    integrations: live.integrations
  })
  // Calls at one instant (no refill): how many of `count` are admitted under the live policy.
  const calls = (count: number): number => {
    let admitted = 0
    for (let i = 0; i < count; i++) {
      const decision = live.policy.decide('report-job', 'jira-main', 'GET', '/rest/api/3/myself')
      if (!decision.allowed) throw new Error('policy refused')
      try {
        admit('report-job', 'jira-main', decision.rule)
        admitted++
      } catch (error) {
        if ((error as { code?: string }).code !== 'BROKER_ERR_CALLER_RATE_LIMITED') throw error
      }
    }
    return admitted
  }
  return { live, calls }
}

const rule = (perSecond: number): PolicyRuleConfig => ({
  caller: 'report-job', integration: 'jira-main', methods: ['GET'], paths: ['/**'], rateLimit: { perSecond, burst: perSecond, scope: 'pod' }
})
const other: PolicyRuleConfig = { caller: 'other-job', integration: 'jira-main', methods: ['GET'], paths: ['/**'] }

t.test('regression: a narrowed rateLimit applies at the reload (the old bucket kept admitting)', async (t) => {
  const { live, calls } = setup({ product: 'jira', credential: 'oauth', cloudId: JIRA }, [rule(20)])
  t.equal(calls(5), 5, 'the wide rule admits')
  live.swap(live.integrations, [rule(1)], () => new Date())
  t.equal(calls(20), 1, 'at 1/s with burst 1, one call of 20 passes')
})

t.test('an unchanged rule keeps its bucket when a reload moves it', async (t) => {
  const { live, calls } = setup({ product: 'jira', credential: 'oauth', cloudId: JIRA }, [rule(3)])
  t.equal(calls(5), 3, 'the burst of 3 is spent')
  live.swap(live.integrations, [other, rule(3)], () => new Date())
  t.equal(calls(5), 0, 'the same rule at another position is the same bucket: nothing refilled by the reload')
})

t.test('regression: a narrowed budget applies at the reload (budgets were built once at start)', async (t) => {
  const { live, calls } = setup({ product: 'jira', credential: 'oauth', cloudId: JIRA, budget: { perSecond: 20, burst: 20 } }, [other, { ...other, caller: 'report-job' }])
  t.equal(calls(5), 5)
  live.swap({ 'jira-main': { product: 'jira', credential: 'oauth', cloudId: JIRA, budget: { perSecond: 1 } } }, live.policyRules, () => new Date())
  t.equal(calls(20), 1, 'the new budget\'s bucket: burst 1')
  live.swap({ 'jira-main': { product: 'jira', credential: 'oauth', cloudId: JIRA, budget: { perSecond: 1 } } }, [...live.policyRules], () => new Date())
  t.equal(calls(5), 0, 'an unchanged budget keeps its (spent) bucket')
  live.swap({ 'jira-main': { product: 'jira', credential: 'oauth', cloudId: JIRA } }, live.policyRules, () => new Date())
  t.equal(calls(30), 30, 'a budget removed by reload no longer limits')
})

t.test('a reload that changes an integration\'s budget.pointsPerHour applies at the next call', async (t) => {
  const clock = new ManualClock()
  const now = (): Date => new Date(clock.now())
  const budget = (pointsPerHour: number): IntegrationConfig => ({ product: 'jira', credential: 'oauth', cloudId: JIRA, budget: { pointsPerHour } })
  const live = new LiveConfig({ 'jira-main': budget(3_600) }, [other], now)
  const admit = createAdmission({
    quotaHold: new QuotaHold({ clock, logger: createLogger({ level: 'silent' }) }),
    backend: new LocalLimits({ clock }),
    queue: seatQueue(clock),
    integrations: live.integrations
  })
  const once = (): Release => {
    const decision = live.policy.decide('other-job', 'jira-main', 'GET', '/rest/api/3/search/jql')
    if (!decision.allowed) throw new Error('policy refused')
    return admit('other-job', 'jira-main', decision.rule) as Release
  }
  once()(500)
  t.throws(once, { code: 'BROKER_ERR_CALLER_POINTS_LIMITED' }, '500 points of a 3,600/h share: in debt')
  live.swap({ 'jira-main': budget(3_600_000) }, [other], now)
  await clock.advance(1_000)
  t.doesNotThrow(once, 'at 1,000 points a second after the reload, the debt is paid within the second')
})
