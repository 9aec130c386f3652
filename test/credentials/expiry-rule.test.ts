/**
 * Issue 23 item 6: one expiry rule. The watcher warned at 30/7 days, the ops page marked under 14/3 (its comment said
 * "at or under", its code `<`) and alerts.yaml repeated its own numbers. Now `credentials.expiryWarning` and
 * expiry-rule.ts decide for every consumer: the watcher's log, /admin/integrations, /admin/ops (which the page shows as
 * sent) and the threshold gauge the alerts compare against (deploy/prometheus/alerts.test.yaml runs those).
 */
import t, { type Test } from 'tap'
import { parseConfig } from '../../src/config/load.js'
import { DAY_MS, expiryState, expiryStateOfDays, thresholdSeconds } from '../../src/credentials/expiry-rule.js'
import type { OpsSnapshot } from '../../src/usage/ops-view.js'
import { startAdminHarness, type AdminHarness } from '../helpers/admin-harness.js'
import { ManualClock } from '../helpers/manual-clock.js'

t.test('at or under: the boundary day is the level, the day after is not', async (t) => {
  const thresholds = { warnDays: 30, criticalDays: 7 }
  t.same(
    [31, 30, 8, 7, 0, -1].map((days) => expiryStateOfDays(days, thresholds)),
    ['ok', 'warning', 'warning', 'critical', 'critical', 'expired']
  )
  const now = Date.parse('2026-11-23T12:00:00Z')
  t.equal(expiryState('2026-12-23T12:00:00Z', now, thresholds), 'warning', 'exactly 30 days left')
  t.equal(expiryState('2026-12-24T11:59:59Z', now, thresholds), 'warning', '30.99 days left count as 30')
  t.equal(expiryState('2026-12-24T12:00:00Z', now, thresholds), 'ok', '31 days left')
  t.equal(expiryState('2026-11-23T11:59:59Z', now, thresholds), 'expired')
  t.equal(expiryState('not a date', now, thresholds), undefined)
  t.equal(thresholdSeconds(30), 31 * 86_400, 'the gauge: under 31 days left is "at or under 30 whole days"')
})

t.test('the config: defaults 30/7, critical at most warn, whole days', async (t) => {
  t.same(parseConfig({}, 'test', {}).credentials.expiryWarning, { warnDays: 30, criticalDays: 7 })
  const onlyWarn = parseConfig({ credentials: { expiryWarning: { warnDays: 10 } } }, 'test', {})
  t.same(onlyWarn.credentials.expiryWarning, { warnDays: 10, criticalDays: 7 })
  t.throws(() => parseConfig({ credentials: { expiryWarning: { warnDays: 5, criticalDays: 7 } } }, 'test', {}), /criticalDays must be at most warnDays/)
  t.throws(() => parseConfig({ credentials: { expiryWarning: { warnDays: 1.5 } } }, 'test', {}))
})

interface Seen {
  watcher: string | undefined
  integrations: unknown
  ops: unknown
  thresholds: unknown
  gauge: Record<string, number>
}
interface LogLine { level: number, integration?: string, expiryLevel?: string }

/** What every consumer says about jira-main, expiring `days` whole days (and an hour) from the clock's now. */
async function everyConsumer (t: Test, h: AdminHarness, clock: ManualClock, days: number): Promise<Seen> {
  await h.store.updateMetadata('jira-main', { expires_at: new Date(clock.now() + days * DAY_MS + 3_600_000).toISOString() })
  const logged = h.logs.length
  await h.broker.credentialAdmin.expiryWatcher.check()
  const line = h.logs.slice(logged).map((text) => JSON.parse(text) as LogLine)
    .find((entry) => entry.integration === 'jira-main' && entry.expiryLevel !== undefined)
  const listed = await h.admin('GET', '/admin/integrations')
  t.equal(listed.statusCode, 200)
  const ops = await h.broker.app.inject({ method: 'GET', url: '/admin/ops', headers: { authorization: `Bearer ${h.adminToken()}` } })
  t.equal(ops.statusCode, 200)
  const snapshot = ops.json<OpsSnapshot>()
  const metrics = await h.broker.app.inject({ method: 'GET', url: '/metrics' })
  const gauge: Record<string, number> = {}
  for (const [, level, value] of metrics.body.matchAll(/^atlassian_broker_credential_expiry_threshold_seconds\{level="(\w+)"\} (\d+)$/gm)) gauge[String(level)] = Number(value)
  return {
    watcher: line === undefined ? undefined : `${line.level === 40 ? 'warn' : line.level === 50 ? 'error' : line.level}:${line.expiryLevel}`,
    integrations: (listed.body.integrations as Array<{ integration: string, expiryLevel: unknown }>).find((entry) => entry.integration === 'jira-main')?.expiryLevel,
    ops: snapshot.credentials.find((entry) => entry.integration === 'jira-main')?.expiryLevel,
    thresholds: snapshot.thresholds,
    gauge
  }
}

t.test('the boundary day (exactly warnDays) is a warning in every consumer; a day more is ok in every one', async (t) => {
  const clock = new ManualClock(Date.now())
  const h = await startAdminHarness(t, 'file', { clock })
  const atBoundary = await everyConsumer(t, h, clock, 30)
  t.same(atBoundary, {
    watcher: 'warn:warning',
    integrations: 'warning',
    ops: 'warning',
    thresholds: { warnDays: 30, criticalDays: 7 },
    gauge: { warning: 31 * 86_400, critical: 8 * 86_400 }
  })
  const dayAfter = await everyConsumer(t, h, clock, 31)
  t.same([dayAfter.watcher, dayAfter.integrations, dayAfter.ops], [undefined, 'ok', 'ok'])
  const critical = await everyConsumer(t, h, clock, 7)
  t.same([critical.watcher, critical.integrations, critical.ops], ['error:critical', 'critical', 'critical'])
})

t.test('a configured threshold changes every consumer', async (t) => {
  const clock = new ManualClock(Date.now())
  const h = await startAdminHarness(t, 'file', { clock, config: { credentials: { expiryWarning: { warnDays: 10, criticalDays: 2 } } } })
  const twenty = await everyConsumer(t, h, clock, 20)
  t.same([twenty.watcher, twenty.integrations, twenty.ops], [undefined, 'ok', 'ok'], '20 days: a warning by default, fine with warnDays 10')
  const ten = await everyConsumer(t, h, clock, 10)
  t.same(ten, {
    watcher: 'warn:warning',
    integrations: 'warning',
    ops: 'warning',
    thresholds: { warnDays: 10, criticalDays: 2 },
    gauge: { warning: 11 * 86_400, critical: 3 * 86_400 }
  })
  const three = await everyConsumer(t, h, clock, 3)
  t.same([three.watcher, three.integrations, three.ops], ['warn:warning', 'warning', 'warning'], '3 days: critical by default, a warning here')
  const two = await everyConsumer(t, h, clock, 2)
  t.same([two.watcher, two.integrations, two.ops], ['error:critical', 'critical', 'critical'])
})
