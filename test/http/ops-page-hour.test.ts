/**
 * The ops page as an SRE reads it (issue 27 §2), in real Chromium at 800 px against a live broker: who first (the top
 * callers with their limits), what fails (by status and code, error rates, p50/p95/p99, the latest request ids), the
 * hour against the limits (remaining per minute, the hold as a band), credentials with their date and hours under two
 * days, the loaded config; every figure on the page equal to what /admin/ops sent, every time in UTC, nothing wider
 * than the window. Leaves test-artifacts/admin-ops-800.png.
 */
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Page } from 'playwright-core'
import t from 'tap'
import { request } from 'undici'
import type { OpsSnapshot } from '../../src/usage/ops-view.js'
import { SKIP_WITHOUT_CHROMIUM, launchChromium } from '../helpers/chromium.js'
import { CALLER_SECRET, startHarness } from '../helpers/broker-harness.js'
import { FleetKeys } from '../../src/fleet/keys.js'
import { OPS_POLICY, sendOpsTraffic, setExpiries } from '../helpers/ops-traffic.js'
import { findRedisServer, RedisServer } from '../helpers/redis-server.js'

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url))
const CALLERS = { jwt: { audience: 'atlassian-broker', hs256Secret: CALLER_SECRET }, admin: { role: 'broker-admin' } }

/** Each row of a table body as { data-* names, cell text by data-field }. */
type Row = { data: Record<string, string>, cells: Record<string, string> }
const rowsOf = (page: Page, body: string): Promise<Row[]> => page.evaluate(
  `[...document.querySelectorAll('#${body} tr')].map((row) => ({ data: { ...row.dataset },
    cells: Object.fromEntries([...row.querySelectorAll('td')].map((cell) => [cell.dataset.field ?? '', cell.textContent ?? ''])) }))`)

/** A figure as the page writes it (en-US grouping, at most 3 decimals), read back as the number sent. */
const figure = (text: string | undefined): number | null => text === undefined || text === '-' ? null : Number(text.replace(/,/g, '').replace(/ %$/, ''))

t.test('the ops page at 800 px: who, what fails, the hour against the limits, credentials and config, as sent', { skip: SKIP_WITHOUT_CHROMIUM }, async (t) => {
  const h = await startHarness(t, { config: { callers: CALLERS, policy: OPS_POLICY } })
  await sendOpsTraffic(h)
  await setExpiries(h)
  // 47.9 hours and a minute: whole days would say "1 day".
  const expiresAt = new Date(Date.now() + 47.9 * 3_600_000 + 60_000).toISOString()
  await h.store.updateMetadata('jira-main', { expires_at: expiresAt })
  const adminJwt = h.callerToken('ops-alice', { roles: ['broker-admin'] })
  const browser = await launchChromium(t)
  const page = await browser.newPage({ viewport: { width: 800, height: 1000 } })
  const problems: string[] = []
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`))
  page.on('console', (message) => { if (message.type() === 'error' && !/401/.test(message.text())) problems.push(`console: ${message.text()}`) })
  await page.goto(`${h.url}/admin`)
  await page.fill('#token', adminJwt)
  await page.click('#login button[type=submit]')
  await page.locator('#recent-body tr').nth(7).waitFor({ timeout: 30_000 })
  const ops = await (await request(`${h.url}/admin/ops`, { headers: { authorization: `Bearer ${adminJwt}` } })).body.json() as OpsSnapshot

  // Who, before anything else on the page, busiest first, with the limits beside the usage.
  const order = 'document.getElementById(\'who-title\').compareDocumentPosition(document.getElementById(\'outcomes-title\'))'
  t.equal(await page.evaluate<number>(order), 4, 'the top callers come before the caller x integration tables')
  const top = await rowsOf(page, 'top-calls-body')
  t.same(top.map((row) => row.data.caller), ops.callerHours.map((entry) => entry.caller), 'by calls, in the order sent')
  for (const [index, row] of top.entries()) {
    const sent = ops.callerHours[index]
    const shown = ['requests', 'errors', 'errorRate', 'callerLimited', 'waiting'].map((field) => figure(row.cells[field]))
    t.same(shown, [sent?.requests, sent?.errors, (sent?.errorRate ?? 0) * 100, sent?.outcomes.callerLimited, sent?.waiting], `${row.data.caller}: figures as sent`)
  }
  t.equal(top.find((row) => row.data.caller === 'sync-job')?.cells.limits, 'jira-main: 0.001/s burst 2 (pod), 32 at once', 'its rule\'s limits')
  const byPoints = (await rowsOf(page, 'top-points-body')).map((row) => [row.data.caller, figure(row.cells.points)])
  const pointsSent = ops.callerHours.filter((entry) => entry.points > 0)
    .sort((a, b) => b.points - a.points || b.requests - a.requests)
  t.ok(pointsSent.length > 0, 'the calls cost points')
  t.same(byPoints, pointsSent.map((entry) => [entry.caller, entry.points]), 'by points, most first, as sent')
  const byErrors = (await rowsOf(page, 'top-errors-body')).map((row) => [row.data.caller, figure(row.cells.errors)])
  t.ok(ops.integrationHours.every((entry) => (entry.exchanges.ok ?? 0) > 0), 'each integration exchanged a token')
  t.same(byErrors, [['report-job', 6], ['sync-job', 1], ['unauthenticated', 1]], 'by errors, most first')

  // What fails.
  for (const row of await rowsOf(page, 'integrations-body')) {
    const sent = ops.integrationHours.find((entry) => entry.integration === row.data.integration)
    t.same(['requests', 'errors', 'p50Ms', 'p95Ms', 'p99Ms'].map((field) => figure(row.cells[field])),
      [sent?.requests, sent?.errors, sent?.p50Ms, sent?.p95Ms, sent?.p99Ms], `${row.data.integration}: calls, errors, p50/p95/p99 as sent`)
    t.equal(figure(row.cells.errorRate), (sent?.errorRate ?? 0) * 100, 'its error rate')
    t.equal(figure(row.cells.points), sent?.points, 'its points')
    const chart = `#remaining-charts figure[data-integration="${row.data.integration}"]`
    const used = await page.locator(`${chart} span[data-field="points"]`).textContent()
    t.equal(figure(used ?? undefined), sent?.points, 'the points used against its pools')
    const exchanges = Object.values(sent?.exchanges ?? {}).reduce((a, b) => a + b, 0)
    t.equal(figure(row.cells.exchanges), exchanges, 'its token exchanges')
    t.equal(figure(row.cells.exchangesFailed), exchanges - (sent?.exchanges.ok ?? 0), 'those that failed')
  }
  const codes = (await rowsOf(page, 'codes-body')).map((row) => ({ integration: row.data.integration, statusCode: figure(row.cells.statusCode), code: row.cells.code === '-' ? null : row.cells.code, count: figure(row.cells.count) }))
  t.same(codes, ops.failures.byCode, 'failures by status and code, as sent')
  t.ok(codes.some((entry) => entry.statusCode === 401 && entry.code === 'BROKER_ERR_CALLER_UNAUTHENTICATED'), 'an unauthenticated 401 has its own line')
  const recent = await rowsOf(page, 'recent-body')
  t.same(recent.map((row) => row.cells.requestId), ops.failures.recent.map((entry) => entry.requestId), 'the latest failures\' request ids, newest first')
  t.equal(recent[0]?.cells.at, `${ops.failures.recent[0]?.at.slice(0, 19).replace('T', ' ')} UTC`)

  // The hour against the limits: the last remaining per minute, and the quota hold as a band.
  const wikiHour = ops.integrationHours.find((entry) => entry.integration === 'wiki-main')
  const dots = await page.locator('#remaining-charts svg[data-integration="wiki-main"] circle[data-field="remaining"]').evaluateAll((nodes) => nodes.map((node) => Number((node as unknown as { dataset: Record<string, string> }).dataset.value)))
  t.same(dots, wikiHour?.headroom.filter((sample) => sample.remaining !== null).map((sample) => sample.remaining), 'remaining per minute, as sent')
  t.equal(await page.locator('#chart-timeline rect.hold-band').count(), ops.holds.length, 'each hold a band on the timeline')
  t.equal(ops.holds.length, 1)
  t.equal(await page.locator('#remaining-charts svg[data-integration="wiki-main"] rect.hold-band').count(), 1, 'and on its integration\'s chart')

  // Credentials: the date, and hours under two days.
  const jira = page.locator('#credentials-body tr[data-integration="jira-main"]')
  t.equal(await jira.locator('td[data-field="expiresAt"]').innerText(), `${expiresAt.slice(0, 19).replace('T', ' ')} UTC`, 'the date, in UTC')
  t.equal(await jira.locator('td[data-field="timeLeft"]').innerText(), '47.9 hours (critical)', 'regression: 47.9 hours showed as "1 day (critical)"')
  t.equal(ops.credentials.find((entry) => entry.integration === 'jira-main')?.hoursToExpiry, 47.9)

  // Config.
  t.equal(await page.locator('#config-hash').innerText(), ops.config.hash)
  t.equal(await page.locator('#config-loaded').innerText(), `${ops.config.loadedAt.slice(0, 19).replace('T', ' ')} UTC`)
  t.equal(await page.locator('#config-refused').innerText(), 'none')
  t.notOk(await page.locator('#scope-switch').isVisible(), 'no scope switch without fleet mode')

  // Every time says its zone; nothing is wider than the 800 px window (wide tables scroll in their own box).
  const text = await page.evaluate<string>('document.body.innerText')
  t.same(text.match(/\d{2}:\d{2}:\d{2}(?! UTC)/g) ?? [], [], 'no time without its zone')
  t.ok(await page.evaluate<boolean>('document.documentElement.scrollWidth <= 800'), 'no sideways scroll at 800 px')
  mkdirSync(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: `${ARTIFACTS}/admin-ops-800.png`, fullPage: true })
  t.same(problems, [], 'no script error and no CSP violation')
})

t.test('in fleet mode the scope is a visible switch: the fleet\'s totals from a real redis-server', { skip: SKIP_WITHOUT_CHROMIUM || findRedisServer() === undefined }, async (t) => {
  const redis = await RedisServer.start(t)
  const h = await startHarness(t, { config: { callers: CALLERS, policy: OPS_POLICY, fleet: { redis: { url: redis.url, keyPrefix: 'ab-ops' }, podName: 'pod-a' } } })
  // Bounded by count, not by time: the link connects in the background.
  for (let i = 0; i < 400 && h.broker.fleet?.link.connected !== true; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  for (let i = 0; i < 3; i++) {
    const res = await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: { authorization: `Bearer ${h.callerToken('report-job')}` } })
    await res.body.dump()
  }
  // A pool reading another pod published (this one's answers carried no pool headers): the fleet scope shows it.
  const seenAt = new Date().toISOString()
  const reading = { integration: 'jira-main', policy: 'global-app-quota', enforced: false, quota: 65_000, windowSeconds: 3_600, remaining: 9_000, resetAt: null, seenAt, reconciled: { intervals: 0, observedPoints: 0, estimatedPoints: 0 }, pod: 'pod-b' }
  const inspect = redis.client()
  t.teardown(() => { inspect.disconnect() })
  await inspect.hset(new FleetKeys('ab-ops').pools, 'jira-main\u0000global-app-quota', `${Date.parse(seenAt)}\t${JSON.stringify(reading)}`)
  await h.broker.fleet?.usage?.flush()
  const browser = await launchChromium(t)
  const page = await browser.newPage({ viewport: { width: 800, height: 900 } })
  await page.goto(`${h.url}/admin`)
  await page.fill('#token', h.callerToken('ops-alice', { roles: ['broker-admin'] }))
  await page.click('#login button[type=submit]')
  await page.locator('#scope-switch').waitFor({ state: 'visible', timeout: 30_000 })
  t.equal(await page.getAttribute('button[data-scope="pod"]', 'aria-pressed'), 'true', 'this sidecar first')
  await page.click('button[data-scope="fleet"]')
  await page.locator('#status', { hasText: 'totals are the fleet\'s' }).waitFor({ timeout: 30_000 })
  t.equal(await page.getAttribute('button[data-scope="fleet"]', 'aria-pressed'), 'true')
  t.match(page.url(), /[?&]scope=fleet(&|$)/, 'the scope is in the link')
  await page.locator('#usage-body tr[data-caller="report-job"] td[data-field="requests"]', { hasText: /^3$/ }).waitFor({ timeout: 30_000 })
  t.pass('the fleet\'s totals: the 3 calls published through Redis')
  const caption = page.locator('#remaining-charts figure[data-integration="jira-main"] figcaption')
  await caption.filter({ hasText: 'by pod-b' }).waitFor({ timeout: 30_000 })
  t.match(await caption.textContent(), /global-app-quota: 9,000 of 65,000 left .*by pod-b/, 'the pool another pod saw, in the fleet scope')
  await page.click('button[data-scope="pod"]')
  await page.locator('#status', { hasNotText: 'totals are the fleet\'s' }).waitFor({ timeout: 30_000 })
  t.notMatch(await caption.textContent(), /global-app-quota/, 'not in this pod\'s own view')
})
