/** Per-caller limits from the policy: refused before anything goes upstream, and only for the caller over its budget.
 * */
import t from 'tap'
import { request } from 'undici'
import { json } from '../helpers/fake-atlassian.js'
import { startHarness, type Harness } from '../helpers/broker-harness.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { createAdmission } from '../../src/limits/admission.js'
import { LocalLimits } from '../../src/limits/local-limits.js'
import { QuotaHold } from '../../src/limits/quota-hold.js'
import { createLogger } from '../../src/logger.js'
import type { CompiledRule } from '../../src/policy/policy.js'

const POLICY = [
  { caller: 'report-job', integration: 'jira-main', methods: ['GET'], paths: ['/rest/api/3/**'], rateLimit: { perSecond: 1, burst: 2 } },
  { caller: 'sync-job', integration: 'jira-main', methods: ['GET'], paths: ['/rest/api/3/**'] },
  { caller: 'slow-job', integration: 'jira-main', methods: ['GET'], paths: ['/rest/api/3/**'], maxConcurrent: 1 },
  { caller: 'batch-*', integration: 'jira-main', methods: ['GET'], paths: ['/rest/api/3/**'], rateLimit: { perSecond: 1, burst: 1 } }
]

async function call (h: Harness, caller: string, path = '/rest/api/3/myself'): Promise<{ status: number, code: string | undefined, retryAfter: string | undefined }> {
  const res = await request(`${h.url}/proxy/jira-main${path}`, { headers: { authorization: `Bearer ${h.callerToken(caller)}` } })
  const text = await res.body.text()
  const code = res.statusCode >= 400 ? (JSON.parse(text) as { code?: string }).code : undefined
  const retryAfter = res.headers['retry-after']
  return { status: res.statusCode, code, retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined }
}

const gatewayHits = (h: Harness): number => h.fake.requests.filter((r) => r.endpoint === 'gateway').length

t.test('a caller over its rate gets 429 with Retry-After; nothing reaches Atlassian; another caller is untouched', async (t) => {
  const clock = new ManualClock()
  const h = await startHarness(t, { clock, config: { policy: POLICY } })

  t.same((await call(h, 'report-job')).status, 200)
  t.same((await call(h, 'report-job')).status, 200)
  const before = gatewayHits(h)
  const refused = await call(h, 'report-job')
  t.same(refused, { status: 429, code: 'BROKER_ERR_CALLER_RATE_LIMITED', retryAfter: '1' })
  t.equal(gatewayHits(h), before, 'the refused call never reached the fake')

  for (let i = 0; i < 5; i++) t.equal((await call(h, 'sync-job')).status, 200, `sync-job call ${i + 1}`)
  t.equal(gatewayHits(h), before + 5, 'the other caller\'s traffic went through')
  t.equal((await call(h, 'report-job')).status, 429, 'still over budget: the other caller spent none of it')

  await clock.advance(1_000)
  t.equal((await call(h, 'report-job')).status, 200, 'one token refilled after a second')
  t.equal((await call(h, 'report-job')).status, 429)
})

t.test('a glob rule gives every matching caller its own bucket', async (t) => {
  const h = await startHarness(t, { clock: new ManualClock(), config: { policy: POLICY } })
  t.equal((await call(h, 'batch-a')).status, 200)
  t.equal((await call(h, 'batch-a')).code, 'BROKER_ERR_CALLER_RATE_LIMITED')
  t.equal((await call(h, 'batch-b')).status, 200)
})

t.test('maxConcurrent: a second call while one is in flight is refused, and admitted again once the first ends', async (t) => {
  const h = await startHarness(t, { clock: new ManualClock(), config: { policy: POLICY } })
  let reached!: () => void
  const reachedFake = new Promise<void>((resolve) => { reached = resolve })
  let finish!: () => void
  const held = new Promise<void>((resolve) => { finish = resolve })
  h.fake.addRoute({
    product: 'jira',
    method: 'GET',
    path: '/rest/api/3/slow',
    respond: async () => {
      reached()
      await held
      return json(200, { slow: true })
    }
  })
  const first = call(h, 'slow-job', '/rest/api/3/slow')
  await reachedFake
  const hits = gatewayHits(h)
  t.same(await call(h, 'slow-job'), { status: 429, code: 'BROKER_ERR_CALLER_RATE_LIMITED', retryAfter: '1' })
  t.equal(gatewayHits(h), hits, 'refused before the fake')
  t.equal((await call(h, 'sync-job')).status, 200, 'another caller is not limited by it')
  finish()
  t.equal((await first).status, 200)
  t.equal((await call(h, 'slow-job')).status, 200, 'the slot was released when the first answer ended')
  t.equal((await call(h, 'slow-job')).status, 200, 'and again: released after every call')
})

t.test('a refused call counts as a 429 for the caller in /metrics, not as upstream traffic', async (t) => {
  const h = await startHarness(t, { clock: new ManualClock(), config: { policy: POLICY } })
  for (let i = 0; i < 3; i++) await call(h, 'report-job')
  const text = await (await request(`${h.url}/metrics`)).body.text()
  t.match(text, /atlassian_broker_requests_total\{caller="report-job",integration="jira-main",method="GET",status_class="2xx"\} 2\n/)
  t.match(text, /atlassian_broker_requests_total\{caller="report-job",integration="jira-main",method="GET",status_class="4xx"\} 1\n/)
  t.notMatch(text, /atlassian_broker_upstream_rate_limited_total\{/)
  t.match(text, /atlassian_broker_rate_limited_responses_total\{caller="report-job",integration="jira-main",source="caller_limit"\} 1\n/)
})

t.test('the default share (limits.callerMaxConcurrent): per caller over every rule without maxConcurrent; a rule\'s own replaces it', async (t) => {
  const clock = new ManualClock()
  const admit = createAdmission({ quotaHold: new QuotaHold({ clock, logger: createLogger({ level: 'silent' }) }), backend: new LocalLimits({ clock }), defaultMaxConcurrent: 2 })
  // The local path is synchronous: a release or a throw, never a promise.
  const limits = {
    admit: (caller: string, integration: string, rule: CompiledRule) => admit(caller, integration, rule) as () => void
  }
  const rule = (index: number, maxConcurrent?: number): CompiledRule => ({ index, caller: '*', integration: '*', methods: new Set(['GET']), paths: [], rateLimit: undefined, maxConcurrent })
  const first = limits.admit('a', 'jira-main', rule(0))
  limits.admit('a', 'wiki-main', rule(1))
  t.throws(() => limits.admit('a', 'jira-main', rule(2)), { code: 'BROKER_ERR_CALLER_RATE_LIMITED' }, 'a third call by the same caller, whatever the rule')
  t.doesNotThrow(() => limits.admit('b', 'jira-main', rule(0)), 'another caller has its own share')
  const bulk = [1, 2, 3, 4, 5].map(() => limits.admit('a', 'jira-main', rule(3, 5)))
  t.equal(bulk.length, 5, 'a rule with maxConcurrent 5 admits 5 beside the default share')
  t.throws(() => limits.admit('a', 'jira-main', rule(3, 5)), { code: 'BROKER_ERR_CALLER_RATE_LIMITED' })
  first()
  first()
  t.doesNotThrow(() => limits.admit('a', 'jira-main', rule(0)), 'a slot freed (release is idempotent)')
  t.throws(() => limits.admit('a', 'jira-main', rule(0)), { code: 'BROKER_ERR_CALLER_RATE_LIMITED' })
})
