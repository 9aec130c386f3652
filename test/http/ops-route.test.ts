/** GET /admin/ops: outcomes per minute and per series, credentials, headroom; admin only; no secret; bad selection
 * refused. */
import t from 'tap'
import { request } from 'undici'
import type { OpsSnapshot } from '../../src/usage/ops-view.js'
import { CALL_OUTCOMES, ERROR_OUTCOMES, RATE_LIMITED_OUTCOMES } from '../../src/usage/call-outcome.js'
import type { UsageSnapshot } from '../../src/usage/tally-views.js'
import { CALLER_SECRET, CLIENT_ID, CLIENT_SECRET, MASTER_KEY, startHarness } from '../helpers/broker-harness.js'
import { HTML_CALLER, OPS_POLICY, key, sendOpsTraffic, setExpiries } from '../helpers/ops-traffic.js'

const ADMIN_CONFIG = { callers: { jwt: { audience: 'atlassian-broker', hs256Secret: CALLER_SECRET }, admin: { role: 'broker-admin' } }, policy: OPS_POLICY }

t.test('the ops view counts every outcome, shows credentials and headroom, for admins only', async (t) => {
  const h = await startHarness(t, { config: ADMIN_CONFIG })
  const expected = await sendOpsTraffic(h)
  await setExpiries(h)
  const adminJwt = h.callerToken('ops-alice', { roles: ['broker-admin'] })
  const get = async (query = '', token: string | null = adminJwt): Promise<{ status: number, text: string, headers: Record<string, unknown> }> => {
    const res = await request(`${h.url}/admin/ops${query}`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } })
    return { status: res.statusCode, text: await res.body.text(), headers: res.headers }
  }

  const anonymous = await get('', null)
  t.equal(anonymous.status, 401)
  t.equal(JSON.parse(anonymous.text).code, 'BROKER_ERR_CALLER_UNAUTHENTICATED')
  const notAdmin = await get('', h.callerToken('report-job'))
  t.equal(notAdmin.status, 403)
  t.equal(JSON.parse(notAdmin.text).code, 'BROKER_ERR_ADMIN_FORBIDDEN')

  const all = await get()
  t.equal(all.status, 200)
  t.equal(all.headers['cache-control'], 'no-store')
  const ops = JSON.parse(all.text) as OpsSnapshot
  t.same(ops.outcomes, CALL_OUTCOMES)
  t.equal(ops.minutes.length, 60)
  const seen: Record<string, Record<string, number>> = {}
  for (const entry of ops.series) {
    const counts: Record<string, number> = {}
    for (const outcome of CALL_OUTCOMES) if (entry.lastHour[outcome] > 0) counts[outcome] = entry.lastHour[outcome]
    seen[key(entry.caller, entry.integration)] = counts
  }
  t.same(seen, expected, 'per caller and integration: exactly the calls sent, by outcome')
  const sent = Object.values(expected).reduce(
    (sum, counts) => sum + Object.values(counts).reduce((a, b) => a + (b ?? 0), 0),
    0
  )
  t.equal(ops.minutes.reduce((sum, minute) => sum + minute.total, 0), sent, 'the per-minute timeline adds up to every call')
  t.ok(ops.callers.includes(HTML_CALLER))

  const credentials = Object.fromEntries(ops.credentials.map((row) => [row.integration, row]))
  t.match(credentials['jira-main'], { store: 'file', storeVersion: 1, versionInUse: 1, owner: 'team-platform', rotatedAt: '2026-11-30T09:00:00.000Z', rotatedBy: 'ops-alice', daysToExpiry: 2, expiryLevel: 'critical', lastExchange: { outcome: 'ok' }, storeError: null })
  t.match(credentials['wiki-main'], { daysToExpiry: 10, expiryLevel: 'warning', owner: 'team-docs' })
  t.same(ops.thresholds, { warnDays: 30, criticalDays: 7 }, 'the configured thresholds (defaults), for the page\'s legend')
  t.ok(Date.parse(String(credentials['jira-main']?.tokenCachedUntil)) > Date.now(), 'the cached token\'s expiry is shown')

  const headroom = Object.fromEntries(ops.headroom.map((row) => [row.integration, row]))
  t.match(headroom['jira-main'], { heldUntil: null, latest: { statusCode: 429, limit: 350, remaining: 0, reason: 'jira-burst-based', retryAfterSeconds: 2 } })
  t.match(headroom['wiki-main'], { latest: { statusCode: 429, limit: 65000, remaining: 0, reason: 'confluence-quota-global-based', retryAfterSeconds: 1800 } })
  const heldUntil = Date.parse(String(headroom['wiki-main']?.heldUntil))
  t.ok(heldUntil > Date.now() + 1_700_000 && heldUntil <= Date.now() + 1_800_000, 'the quota hold and its deadline')

  const selected = JSON.parse((await get(`?caller=${encodeURIComponent('sync-job')}&integration=jira-main`)).text) as OpsSnapshot
  t.same(selected.selection, { caller: 'sync-job', integration: 'jira-main' })
  t.same(selected.series.map((entry) => entry.caller), ['sync-job'])
  t.equal(selected.minutes.reduce((sum, minute) => sum + minute.total, 0), 3, 'the timeline follows the selection')
  t.same(selected.callers, ops.callers, 'the choices stay complete')
  t.same((JSON.parse((await get('?caller=&integration=')).text) as OpsSnapshot).series.length, ops.series.length, 'empty means all')

  const bad = await get(`?caller=${'x'.repeat(300)}`)
  t.equal(bad.status, 400)
  t.equal(JSON.parse(bad.text).code, 'BROKER_ERR_BAD_REQUEST')
  const twice = await get('?caller=a&caller=b')
  t.equal(twice.status, 400, 'a parameter given twice is refused, not guessed')

  for (const secret of [...h.fake.tokensOf(CLIENT_ID), adminJwt, h.callerToken('report-job'), CLIENT_SECRET, CALLER_SECRET, MASTER_KEY]) {
    t.notOk(all.text.includes(secret), 'no secret in /admin/ops')
  }
})

t.test('/admin/usage and /admin/ops read one tally: the same series, in the same order, errors = every outcome but ok', async (t) => {
  const h = await startHarness(t, { config: ADMIN_CONFIG })
  await sendOpsTraffic(h)
  const headers = { authorization: `Bearer ${h.callerToken('ops-alice', { roles: ['broker-admin'] })}` }
  const usage = await (await request(`${h.url}/admin/usage`, { headers })).body.json() as UsageSnapshot
  const ops = await (await request(`${h.url}/admin/ops`, { headers })).body.json() as OpsSnapshot
  t.same(
    usage.series.map((entry) => key(entry.caller, entry.integration)),
    ops.series.map((entry) => key(entry.caller, entry.integration))
  )
  for (const [index, entry] of usage.series.entries()) {
    const counts = ops.series[index]?.lastHour
    const label = `${entry.caller} on ${entry.integration}`
    t.equal(entry.last1h.requests, counts?.total, `${label}: requests`)
    t.equal(entry.last1h.errors, ERROR_OUTCOMES.reduce((sum, outcome) => sum + (counts?.[outcome] ?? 0), 0), `${label}: errors`)
    t.equal(entry.last1h.rateLimited, RATE_LIMITED_OUTCOMES.reduce((sum, outcome) => sum + (counts?.[outcome] ?? 0), 0), `${label}: 429s`)
  }
})
