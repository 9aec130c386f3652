/**
 * Points, attributed, end to end through a real broker and the fake Atlassian: a Jira search costs 1 + its issues, a
 * call that is not a counted list costs 1; the figures reach /admin/usage, /admin/ops and /metrics, Atlassian's pool
 * headers are shown per policy and reconciled with the estimate; an integration's `budget.pointsPerHour` slows a
 * greedy caller with 429 BROKER_ERR_CALLER_POINTS_LIMITED while another caller still gets through.
 */
import t from 'tap'
import { request } from 'undici'
import type { PoolRow } from '../../src/limits/point-pools.js'
import type { OpsSnapshot } from '../../src/usage/ops-view.js'
import type { UsageSnapshot } from '../../src/usage/tally-views.js'
import { CALLER_SECRET, JIRA_CLOUD_ID, startHarness, type Harness } from '../helpers/broker-harness.js'
import { json } from '../helpers/fake-atlassian-http.js'

const CALLERS = { jwt: { audience: 'atlassian-broker', hs256Secret: CALLER_SECRET }, admin: { role: 'broker-admin' } }

/** Jira's enhanced search answer with `count` issues, and the pool as Atlassian would report it. */
function searchAnswer (count: number, remaining?: number): ReturnType<typeof json> {
  const issues = Array.from({ length: count }, (_unused, index) => ({ id: String(10_000 + index), key: `OPS-${index + 1}`, fields: { summary: `a "quoted" [summary] ${index}` } }))
  return json(200, { issues, nextPageToken: 'next', isLast: false }, remaining === undefined
    ? undefined
    : { 'Beta-RateLimit-Policy': '"global-app-quota";q=65000;w=3600', 'Beta-RateLimit': `"global-app-quota";r=${remaining};t=600` })
}

interface Answer { status: number, headers: Record<string, unknown>, body: string }

async function proxied (h: Harness, caller: string, path: string): Promise<Answer> {
  const res = await request(`${h.url}/proxy/jira-main${path}`, { headers: { authorization: `Bearer ${h.callerToken(caller)}` } })
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() }
}

async function admin<T> (h: Harness, path: string): Promise<T> {
  const res = await request(`${h.url}${path}`, { headers: { authorization: `Bearer ${h.callerToken('ops', { roles: ['broker-admin'] })}` } })
  return await res.body.json() as T
}

t.test('a search costs 1 + its issues, anything else 1: in /admin/usage, /admin/ops and /metrics, with the pool', async (t) => {
  const h = await startHarness(t, { config: { callers: CALLERS } })
  const remaining = [10_000, 10_000 - 51]
  h.fake.addRoute({ product: 'jira', method: 'GET', path: /\/rest\/api\/3\/search\/jql$/, scopes: [], respond: () => searchAnswer(50, remaining.shift()) })
  t.equal((await proxied(h, 'report-job', '/rest/api/3/search/jql?jql=project%3DOPS')).status, 200)
  await admin(h, '/admin/usage')
  t.equal((await proxied(h, 'report-job', '/rest/api/3/search/jql?jql=project%3DOPS')).status, 200)
  t.equal((await proxied(h, 'report-job', '/rest/api/3/myself')).status, 200)

  const usage = await admin<UsageSnapshot & { pools: PoolRow[] }>(h, '/admin/usage')
  t.match(usage.series, [{ caller: 'report-job', integration: 'jira-main', last5m: { requests: 3, points: 103 }, last1h: { points: 103 } }])
  t.equal(usage.series[0]?.pointsByMinute.at(-1), 103, 'this minute\'s points, last of the hour')
  t.match(usage.pools, [{
    integration: 'jira-main',
    policy: 'global-app-quota',
    enforced: false,
    quota: 65_000,
    windowSeconds: 3_600,
    remaining: 9_949,
    reconciled: { intervals: 1, observedPoints: 51, estimatedPoints: 51 }
  }], 'the pool as last seen, and the estimate against what it moved')

  const ops = await admin<OpsSnapshot>(h, '/admin/ops')
  t.equal(ops.minutes.at(-1)?.points, 103)
  t.match(ops.series, [{ caller: 'report-job', pointsLastHour: 103 }])
  t.match(ops.headroom.find((row) => row.integration === 'jira-main')?.pools, [{ policy: 'global-app-quota', remaining: 9_949 }])

  const metrics = await (await request(`${h.url}/metrics`)).body.text()
  t.match(metrics, /atlassian_broker_points_total\{caller="report-job",integration="jira-main"\} 103\n/)
})

t.test('budget.pointsPerHour slows a greedy caller (429 with a stable code and Retry-After), not the others', async (t) => {
  const h = await startHarness(t, {
    config: {
      callers: CALLERS,
      integrations: { 'jira-main': { product: 'jira', cloudId: JIRA_CLOUD_ID, credential: 'oauth', budget: { pointsPerHour: 3_600 } } },
      policy: [{ caller: '*-job', integration: 'jira-main', methods: ['GET'], paths: ['/rest/api/3/**'] }]
    }
  })
  h.fake.addRoute({ product: 'jira', method: 'GET', path: /\/rest\/api\/3\/search\/jql$/, scopes: [], respond: () => searchAnswer(100) })
  t.equal((await proxied(h, 'greedy-job', '/rest/api/3/search/jql')).status, 200, 'the first search passes: 101 points')
  const refused = await proxied(h, 'greedy-job', '/rest/api/3/search/jql')
  t.equal(refused.status, 429, 'its share of 3,600 points an hour is in debt')
  t.match(JSON.parse(refused.body), { code: 'BROKER_ERR_CALLER_POINTS_LIMITED' })
  t.ok(Number(refused.headers['retry-after']) > 0, 'Retry-After says when its share has room again')
  t.equal((await proxied(h, 'light-job', '/rest/api/3/myself')).status, 200, 'another caller of the budget gets through')
})
