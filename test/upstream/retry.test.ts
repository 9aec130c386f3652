/** Optional retry of idempotent requests on 429/503 with Retry-After; waits go through an injected sleep (no real
 * time). */
import t, { type Test } from 'tap'
import { request } from 'undici'
import { FakeAtlassian, rateLimited, serviceUnavailable } from '../helpers/fake-atlassian.js'
import { JIRA_CLOUD_ID, WIKI_CLOUD_ID, startHarness, type Harness } from '../helpers/broker-harness.js'

async function harness (t: Test, retry: Record<string, unknown>): Promise<{ h: Harness, waits: number[] }> {
  const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }, { product: 'confluence', cloudId: WIKI_CLOUD_ID }] })
  const waits: number[] = []
  const h = await startHarness(t, {
    fake,
    config: { atlassian: { tokenUrl: fake.tokenUrl, apiUrl: fake.url, retry } },
    brokerOptions: { sleep: async (ms) => { waits.push(ms) }, random: () => 0.5 }
  })
  return { h, waits }
}

const gatewayHits = (h: Harness): number => h.fake.requests.filter((r) => r.endpoint === 'gateway').length
const auth = (h: Harness): Record<string, string> => ({ authorization: `Bearer ${h.callerToken('report-job')}` })

t.test('a GET answered 429 then 503 (both with Retry-After) is retried with backoff and succeeds', async (t) => {
  const { h, waits } = await harness(t, { enabled: true })
  h.fake.setNextResponses((r) => r.endpoint === 'gateway', [rateLimited({ retryAfterSeconds: 1, reason: 'jira-burst-based' }), serviceUnavailable(3)])
  const res = await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: auth(h) })
  await res.body.dump()
  t.equal(res.statusCode, 200)
  t.same(waits, [2_000, 4_000], 'backoff 2 s then 4 s (jitter factor 1.0 at random 0.5); Retry-After was shorter')
  t.equal(gatewayHits(h), 3)
  const metrics = await (await request(`${h.url}/metrics`)).body.text()
  t.match(metrics, /atlassian_broker_upstream_rate_limited_total\{integration="jira-main",reason="jira-burst-based"\} 1\n/, 'the 429 the caller never saw is counted')
})

t.test('tries stop at maxTries; the last answer goes back to the caller', async (t) => {
  const { h, waits } = await harness(t, { enabled: true, maxTries: 3, maxTotalDelayMs: 600_000 })
  h.fake.setNextResponses((r) => r.endpoint === 'gateway', Array.from({ length: 5 }, () => rateLimited({ retryAfterSeconds: 1 })))
  const res = await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: auth(h) })
  await res.body.dump()
  t.equal(res.statusCode, 429)
  t.equal(res.headers['retry-after'], '1', 'Atlassian\'s headers reach the caller')
  t.same(waits, [2_000, 4_000])
  t.equal(gatewayHits(h), 3)
})

t.test('a Retry-After past the time budget is not waited for', async (t) => {
  const { h, waits } = await harness(t, { enabled: true, maxTotalDelayMs: 10_000 })
  h.fake.setNextResponses((r) => r.endpoint === 'gateway', [rateLimited({ retryAfterSeconds: 30 })])
  const res = await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: auth(h) })
  await res.body.dump()
  t.equal(res.statusCode, 429)
  t.same(waits, [])
})

t.test('POST is never retried, nor is anything when retry is off (the default)', async (t) => {
  const { h, waits } = await harness(t, { enabled: true })
  h.fake.setNextResponses((r) => r.endpoint === 'gateway', [rateLimited({ retryAfterSeconds: 1 })])
  const res = await request(`${h.url}/proxy/jira-main/rest/api/3/issue`, {
    method: 'POST', headers: { ...auth(h), 'content-type': 'application/json' }, body: JSON.stringify({ fields: { summary: 'x' } })
  })
  await res.body.dump()
  t.equal(res.statusCode, 429)
  t.same(waits, [])

  const off = await harness(t, {})
  off.h.fake.setNextResponses((r) => r.endpoint === 'gateway', [rateLimited({ retryAfterSeconds: 1 })])
  const again = await request(`${off.h.url}/proxy/jira-main/rest/api/3/myself`, { headers: auth(off.h) })
  await again.body.dump()
  t.equal(again.statusCode, 429)
  t.same(off.waits, [])
})
