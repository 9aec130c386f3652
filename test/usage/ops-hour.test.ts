/** The ops view's hour from its parts: a caller's limits include the rules naming it by glob, an integration shows
 * its budget and its exchanges, the queue beside the caller, and the selection narrows every list. */
import t from 'tap'
import { createLogger } from '../../src/logger.js'
import { QuotaHold } from '../../src/limits/quota-hold.js'
import { UpstreamHeadroom } from '../../src/limits/quota-state.js'
import { compilePolicy } from '../../src/policy/policy.js'
import { FailureLog } from '../../src/usage/failure-log.js'
import { MinuteCounts } from '../../src/usage/minute-counts.js'
import { opsHour, type HourSources } from '../../src/usage/ops-hour.js'
import { UsageTally } from '../../src/usage/tally.js'
import { ManualClock } from '../helpers/manual-clock.js'

t.test('limits by glob, budgets, exchanges, queues and the selection', async (t) => {
  const clock = new ManualClock(Date.parse('2026-12-07T10:00:00Z'))
  const tally = new UsageTally({ clock })
  const call = { statusCode: 200, errorCode: undefined, durationMs: 12, bytesIn: 0, bytesOut: 10 }
  tally.record('sync-job', 'jira-main', call)
  tally.record('sync-job', 'jira-main', { ...call, statusCode: 500 })
  tally.record('report-job', 'wiki-main', call)
  const exchanges = new MinuteCounts(clock)
  exchanges.add('jira-main\u0000ok')
  exchanges.add('jira-main\u0000rejected')
  const policy = compilePolicy([
    { caller: '*-job', integration: '*', methods: ['GET'], paths: ['/**'], rateLimit: { perSecond: 5, burst: 10, scope: 'fleet' } },
    { caller: 'sync-job', integration: 'jira-main', methods: ['GET'], paths: ['/**'], maxConcurrent: 2 },
    { caller: 'other-caller', integration: '*', methods: ['GET'], paths: ['/**'], maxConcurrent: 9 }
  ])
  const sources: HourSources = {
    tally,
    failures: new FailureLog({ clock }),
    exchanges,
    headroom: new UpstreamHeadroom({ clock, integrations: ['jira-main', 'wiki-main'] }),
    holds: (since) => new QuotaHold({ clock, logger: createLogger({ level: 'silent' }) }).holds(since),
    rules: () => policy.rules,
    defaultMaxConcurrent: 32,
    integrations: {
      'jira-main': { product: 'jira', cloudId: '11111111-1111-1111-1111-111111111111', credential: 'oauth', budget: { perSecond: 10 } },
      'wiki-main': { product: 'confluence', cloudId: '22222222-2222-2222-2222-222222222222', credential: 'oauth' }
    }
  }
  const queues = [{ integration: 'jira-main', caller: 'sync-job', depth: 3, seatsInUse: 2, oldestWaitMs: 40 }]
  const hour = opsHour(sources, {}, queues)
  const sync = hour.callerHours.find((entry) => entry.caller === 'sync-job')
  t.match(sync, { requests: 2, errors: 1, errorRate: 0.5, waiting: 3, seatsInUse: 2 })
  t.same(sync?.limits, [
    { integration: '*', perSecond: 5, burst: 10, rateLimitScope: 'fleet', maxConcurrent: null, pointsPerHour: null },
    { integration: 'jira-main', perSecond: null, burst: null, rateLimitScope: null, maxConcurrent: 2, pointsPerHour: null }
  ], 'the glob rule and its own, not another caller\'s')
  const jira = hour.integrationHours.find((entry) => entry.integration === 'jira-main')
  t.match(jira, { requests: 2, errors: 1, budget: { perSecond: 10, burst: null }, exchanges: { ok: 1, rejected: 1 } })
  t.match(hour.integrationHours.find((entry) => entry.integration === 'wiki-main'), { budget: null, exchanges: {}, p99Ms: 15 })
  t.equal(hour.exchangeMinutes.length, 2)

  const narrowed = opsHour(sources, { caller: 'report-job', integration: 'wiki-main' }, queues)
  t.same(narrowed.callerHours.map((entry) => entry.caller), ['report-job'])
  t.same(narrowed.integrationHours.map((entry) => entry.integration), ['wiki-main'])
  t.same(narrowed.exchangeMinutes, [], 'jira-main\'s exchanges are not wiki-main\'s')
})
