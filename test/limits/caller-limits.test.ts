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
import { isWaiting, seatQueue } from './admission-semantics.js'

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

t.test('maxConcurrent: a second call while one is in flight waits (no 429), and goes upstream once the first ends', async (t) => {
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
  const second = call(h, 'slow-job')
  t.equal((await call(h, 'sync-job')).status, 200, 'another caller is not limited by it')
  t.equal(gatewayHits(h), hits + 1, 'only the other caller\'s call went upstream: the second slow-job call waits')
  t.equal(h.broker.seatQueue.rows().find((row) => row.caller === 'slow-job')?.depth, 1, 'in slow-job\'s queue')
  finish()
  t.equal((await first).status, 200)
  t.same(await second, { status: 200, code: undefined, retryAfter: undefined }, 'the waiting call was served when the slot freed')
  t.equal((await call(h, 'slow-job')).status, 200, 'released after every call')
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

t.test('the default share (limits.callerMaxConcurrent): per caller over every rule without maxConcurrent; a rule\'s own replaces it; beyond it a call waits', async (t) => {
  const clock = new ManualClock()
  const admit = createAdmission({ quotaHold: new QuotaHold({ clock, logger: createLogger({ level: 'silent' }) }), backend: new LocalLimits({ clock }), queue: seatQueue(clock), defaultMaxConcurrent: 2 })
  const rule = (index: number, maxConcurrent?: number): CompiledRule => ({ index, caller: '*', integration: '*', methods: new Set(['GET']), paths: [], rateLimit: undefined, maxConcurrent })
  // Admitted at once: a release (no promise); beyond the limit: a promise of one.
  const now = (caller: string, integration: string, compiled: CompiledRule): () => void => {
    const admitted = admit(caller, integration, compiled)
    if (admitted instanceof Promise) throw new Error('expected an admission without waiting')
    return admitted
  }
  const first = now('a', 'jira-main', rule(0))
  now('a', 'wiki-main', rule(1))
  const third = admit('a', 'jira-main', rule(2))
  t.ok(third instanceof Promise && await isWaiting(third), 'a third call by the same caller, whatever the rule, waits')
  t.doesNotThrow(() => now('b', 'jira-main', rule(0)), 'another caller has its own share')
  // On wiki-main: on jira-main this caller's calls queue behind its waiting one (first in, first out per caller).
  const bulk = [1, 2, 3, 4, 5].map(() => now('a', 'wiki-main', rule(3, 5)))
  t.equal(bulk.length, 5, 'a rule with maxConcurrent 5 admits 5 beside the default share')
  t.ok(await isWaiting(admit('a', 'wiki-main', rule(3, 5)) as Promise<unknown>), 'the sixth waits')
  first()
  first()
  t.equal(typeof await third, 'function', 'a slot freed (release is idempotent): the waiting call has it')
  t.ok(await isWaiting(admit('a', 'jira-main', rule(0)) as Promise<unknown>), 'and only one slot')
})
