/** GET /admin/usage needs admin; GET /admin (the page) needs nothing and holds no data. */
import t from 'tap'
import { request } from 'undici'
import { listenAdmin } from '../../src/http/admin-listener.js'
import { CALLER_SECRET, CLIENT_ID, CLIENT_SECRET, startHarness, type Harness } from '../helpers/broker-harness.js'
import type { UsageSnapshot } from '../../src/usage/tally-views.js'

const ADMIN_CONFIG = { callers: { jwt: { audience: 'atlassian-broker', hs256Secret: CALLER_SECRET }, admin: { role: 'broker-admin' } } }

async function proxied (h: Harness, caller: string, path: string): Promise<number> {
  const res = await request(`${h.url}/proxy/jira-main${path}`, { headers: { authorization: `Bearer ${h.callerToken(caller)}` } })
  await res.body.dump()
  return res.statusCode
}

t.test('usage per caller and integration, for admins only', async (t) => {
  const h = await startHarness(t, { config: ADMIN_CONFIG })
  for (let i = 0; i < 3; i++) t.equal(await proxied(h, 'report-job', '/rest/api/3/myself'), 200)
  t.equal(await proxied(h, 'report-job', '/rest/api/2/nope'), 403)

  const anonymous = await request(`${h.url}/admin/usage`)
  t.equal(anonymous.statusCode, 401)
  t.equal((await anonymous.body.json() as { code: string }).code, 'BROKER_ERR_CALLER_UNAUTHENTICATED')
  const notAdmin = await request(`${h.url}/admin/usage`, { headers: { authorization: `Bearer ${h.callerToken('report-job')}` } })
  t.equal(notAdmin.statusCode, 403)
  t.equal((await notAdmin.body.json() as { code: string }).code, 'BROKER_ERR_ADMIN_FORBIDDEN')

  const adminJwt = h.callerToken('ops-alice', { roles: ['broker-admin'] })
  const res = await request(`${h.url}/admin/usage`, { headers: { authorization: `Bearer ${adminJwt}` } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], 'no-store')
  const text = await res.body.text()
  const usage = JSON.parse(text) as UsageSnapshot
  t.equal(usage.series.length, 1)
  t.match(usage.series[0], {
    caller: 'report-job',
    integration: 'jira-main',
    last5m: { requests: 4, errors: 1, rateLimited: 0, bytesIn: 0 },
    last1h: { requests: 4, errors: 1 },
    sinceStart: { requests: 4, errors: 1 }
  })
  t.ok((usage.series[0]?.last5m.bytesOut ?? 0) > 0)
  t.type(usage.series[0]?.last5m.p95Ms, 'number')

  for (const secret of [...h.fake.tokensOf(CLIENT_ID), adminJwt, h.callerToken('report-job'), CLIENT_SECRET, CALLER_SECRET]) {
    t.notOk(text.includes(secret), 'no secret in /admin/usage')
  }
})

t.test('with the admin API off, /admin/usage says how to turn it on', async (t) => {
  const h = await startHarness(t)
  const res = await request(`${h.url}/admin/usage`, { headers: { authorization: `Bearer ${h.callerToken('ops', { roles: ['broker-admin'] })}` } })
  t.equal(res.statusCode, 403)
  t.match((await res.body.json() as { message: string }).message, /callers\.admin\.role/)
})

t.test('the page is served without auth, self-contained, under a strict CSP', async (t) => {
  const h = await startHarness(t)
  const res = await request(`${h.url}/admin`)
  t.equal(res.statusCode, 200)
  t.match(String(res.headers['content-type']), /^text\/html/)
  const csp = String(res.headers['content-security-policy'])
  t.match(csp, /default-src 'none'/)
  t.match(csp, /script-src 'sha256-[A-Za-z0-9+/=]+'/)
  t.match(csp, /connect-src 'self'/)
  const html = await res.body.text()
  t.notMatch(html, /(?:src|href)\s*=\s*["']?(?:https?:)?\/\/|@import|url\(/i, 'no external asset')
  t.match(html, /sessionStorage/)
})

t.test('on the admin listener the usage view needs no token', async (t) => {
  const h = await startHarness(t, { config: { callers: { ...ADMIN_CONFIG.callers, admin: { listen: { host: '127.0.0.1', port: 0 } } } } })
  t.equal(await proxied(h, 'report-job', '/rest/api/3/myself'), 200)
  const adminApp = h.broker.credentialAdmin.adminApp
  if (adminApp === undefined) throw new Error('no admin listener built')
  const address = await listenAdmin(adminApp, { host: '127.0.0.1', port: 0 })
  const res = await request(`${address}/admin/usage`)
  t.equal(res.statusCode, 200)
  t.match(await res.body.json(), { series: [{ caller: 'report-job', integration: 'jira-main', sinceStart: { requests: 1 } }] })
  t.equal((await request(`${address}/admin`)).statusCode, 200)
  const ops = await request(`${address}/admin/ops`)
  t.equal(ops.statusCode, 200, 'the ops view too')
  t.match(await ops.body.json(), { series: [{ caller: 'report-job', integration: 'jira-main', lastHour: { ok: 1, total: 1 } }] })
})

t.test('scope=fleet without fleet mode: 409 BROKER_ERR_STATE_CONFLICT (well formed, not applicable here); a bad scope: 400', async (t) => {
  const h = await startHarness(t, { config: ADMIN_CONFIG })
  const adminJwt = h.callerToken('ops-alice', { roles: ['broker-admin'] })
  const fleet = await request(`${h.url}/admin/usage?scope=fleet`, { headers: { authorization: `Bearer ${adminJwt}` } })
  t.equal(fleet.statusCode, 409)
  t.match(await fleet.body.json(), { code: 'BROKER_ERR_STATE_CONFLICT', message: /scope=fleet needs fleet mode/ })
  const bad = await request(`${h.url}/admin/usage?scope=galaxy`, { headers: { authorization: `Bearer ${adminJwt}` } })
  t.equal(bad.statusCode, 400)
  t.match(await bad.body.json(), { code: 'BROKER_ERR_BAD_REQUEST' })
})
