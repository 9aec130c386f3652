/** A points-quota 429 pauses the whole integration until the window resets, then traffic resumes by itself. */
import t from 'tap'
import { request } from 'undici'
import { rateLimited } from '../helpers/fake-atlassian.js'
import { startHarness, type Harness } from '../helpers/broker-harness.js'
import { ManualClock } from '../helpers/manual-clock.js'

const POLICY = [
  { caller: 'report-job', integration: '*', methods: ['GET'], paths: ['/**'] },
  { caller: 'sync-job', integration: 'jira-main', methods: ['GET'], paths: ['/**'] }
]

async function call (h: Harness, caller: string, integration = 'jira-main', path = '/rest/api/3/myself'): Promise<{ status: number, code: string | undefined, retryAfter: string | undefined }> {
  const res = await request(`${h.url}/proxy/${integration}${path}`, { headers: { authorization: `Bearer ${h.callerToken(caller)}` } })
  const text = await res.body.text()
  const code = res.statusCode >= 400 && text !== '' ? (JSON.parse(text) as { code?: string }).code : undefined
  const retryAfter = res.headers['retry-after']
  return { status: res.statusCode, code, retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined }
}

const gatewayHits = (h: Harness, product = 'jira'): number => h.fake.requests.filter((r) => r.endpoint === 'gateway' && r.product === product).length

t.test('quota 429: the integration is held until the reset, for every caller, without reaching Atlassian', async (t) => {
  const clock = new ManualClock()
  const h = await startHarness(t, { clock, config: { policy: POLICY } })
  t.equal((await call(h, 'report-job')).status, 200, 'warm: token minted')
  h.fake.setNextResponses((r) => r.endpoint === 'gateway', [
    rateLimited({ retryAfterSeconds: 120, reason: 'jira-quota-global-based', limit: 65_000, resetAt: new Date(clock.now() + 120_000) })
  ])
  const first = await call(h, 'report-job')
  t.same(first, { status: 429, code: undefined, retryAfter: '120' }, 'Atlassian\'s own 429 goes back to the caller that met it')
  const hits = gatewayHits(h)

  t.same(await call(h, 'sync-job'), { status: 429, code: 'BROKER_ERR_UPSTREAM_RATE_LIMITED', retryAfter: '120' }, 'another caller is held locally')
  await clock.advance(60_000)
  t.same(await call(h, 'report-job'), { status: 429, code: 'BROKER_ERR_UPSTREAM_RATE_LIMITED', retryAfter: '60' }, 'Retry-After counts down to the reset')
  t.equal(gatewayHits(h), hits, 'nothing was sent to the held integration')
  t.equal((await call(h, 'report-job', 'wiki-main', '/wiki/rest/api/user/current')).status, 200, 'other integrations are not held')

  await clock.advance(60_000)
  t.equal((await call(h, 'sync-job')).status, 200, 'the window reset: traffic resumes')
  t.equal(gatewayHits(h), hits + 1)
  t.ok(h.logs.some((line) => line.includes('holding this integration')), 'the hold is logged')
  t.ok(h.logs.some((line) => line.includes('traffic resumes')), 'and so is the resumption')

  const metrics = await (await request(`${h.url}/metrics`)).body.text()
  t.match(metrics, /atlassian_broker_upstream_rate_limited_total\{integration="jira-main",reason="jira-quota-global-based"\} 1\n/)
  t.match(metrics, /atlassian_broker_requests_total\{caller="sync-job",integration="jira-main",method="GET",status_class="4xx"\} 1\n/)
  t.match(metrics, /atlassian_broker_rate_limited_responses_total\{caller="sync-job",integration="jira-main",source="quota_hold"\} 1\n/)
  t.match(metrics, /atlassian_broker_rate_limited_responses_total\{caller="report-job",integration="jira-main",source="quota_hold"\} 1\n/)
  t.match(metrics, /atlassian_broker_rate_limited_responses_total\{caller="report-job",integration="jira-main",source="upstream"\} 1\n/)
})

t.test('the hold lasts until the later of Retry-After and X-RateLimit-Reset', async (t) => {
  const clock = new ManualClock()
  const h = await startHarness(t, { clock, config: { policy: POLICY } })
  h.fake.setNextResponses((r) => r.endpoint === 'gateway', [
    rateLimited({ retryAfterSeconds: 30, reason: 'jira-quota-tenant-based', resetAt: new Date(clock.now() + 90_000) })
  ])
  t.equal((await call(h, 'report-job')).status, 429)
  t.equal(h.broker.quotaHold.heldUntil('jira-main'), clock.now() + 90_000)
  t.equal((await call(h, 'report-job')).retryAfter, '90')
})

t.test('burst and reasonless 429s are passed back but do not hold the integration', async (t) => {
  const clock = new ManualClock()
  const h = await startHarness(t, { clock, config: { policy: POLICY } })
  h.fake.setNextResponses((r) => r.endpoint === 'gateway', [
    rateLimited({ retryAfterSeconds: 5, reason: 'jira-burst-based' }),
    rateLimited({ retryAfterSeconds: null })
  ])
  t.equal((await call(h, 'report-job')).status, 429)
  t.equal((await call(h, 'report-job')).status, 429)
  t.equal((await call(h, 'report-job')).status, 200, 'the next call goes straight through')
  t.equal(h.broker.quotaHold.heldUntil('jira-main'), undefined)
  const metrics = await (await request(`${h.url}/metrics`)).body.text()
  t.match(metrics, /atlassian_broker_upstream_rate_limited_total\{integration="jira-main",reason="jira-burst-based"\} 1\n/)
  t.match(metrics, /atlassian_broker_upstream_rate_limited_total\{integration="jira-main",reason="none"\} 1\n/)
})
