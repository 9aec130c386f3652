/**
 * Admission that queues, over real HTTP on loopback (issue 24): bursts over a caller's limit wait instead of a 429,
 * are served in arrival order, and a third caller is not starved by two greedy ones. Refusals are left to a full
 * queue or a wait past the bound, and a caller that goes away while queued frees its place.
 */
import t from 'tap'
import { request } from 'undici'
import { json } from '../helpers/fake-atlassian.js'
import type { OpsSnapshot } from '../../src/usage/ops-view.js'
import { CALLER_SECRET, JIRA_CLOUD_ID, startHarness, WIKI_CLOUD_ID, type Harness } from '../helpers/broker-harness.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'
import { findRedisServer, RedisServer } from '../helpers/redis-server.js'

const ANYONE = [{ caller: '*', integration: 'jira-main', methods: ['GET'], paths: ['/rest/api/3/**'] }]

interface Answer { status: number, code: string | undefined, retryAfter: string | undefined }

async function call (h: Harness, caller: string, path: string, signal?: AbortSignal): Promise<Answer> {
  const res = await request(`${h.url}/proxy/jira-main${path}`, {
    headers: { authorization: `Bearer ${h.callerToken(caller)}` },
    ...(signal ? { signal } : {})
  })
  const text = await res.body.text()
  const code = res.statusCode >= 400 ? (JSON.parse(text) as { code?: string }).code : undefined
  const retryAfter = res.headers['retry-after']
  return { status: res.statusCode, code, retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined }
}

interface HeldRoute {
  inFlight: () => number
  maxInFlight: () => number
  order: string[]
  letGo: (count?: number) => void
}

/** A fake route under /rest/api/3/held/ whose answers wait until the test lets them go, counting calls in flight. */
function heldRoute (h: Harness): HeldRoute {
  const waiting: Array<() => void> = []
  const order: string[] = []
  let inFlight = 0
  let maxInFlight = 0
  let open = false
  h.fake.addRoute({
    product: 'jira',
    method: 'GET',
    path: /^\/rest\/api\/3\/held\//,
    respond: async (req) => {
      order.push(req.apiPath)
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      if (!open) await new Promise<void>((resolve) => { waiting.push(resolve) })
      inFlight--
      return json(200, { path: req.apiPath })
    }
  })
  return {
    inFlight: () => inFlight,
    maxInFlight: () => maxInFlight,
    order,
    /** Lets `count` held answers go, or all of them and every later one. */
    letGo: (count) => {
      if (count === undefined) open = true
      for (const resolve of waiting.splice(0, count ?? waiting.length)) resolve()
    }
  }
}

/** Waits (a bounded number of event-loop turns, never a duration) until `condition` holds. */
async function until (condition: () => boolean, what: string): Promise<void> {
  for (let turn = 0; turn < 5_000; turn++) {
    if (condition()) return
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
  throw new Error(`never happened: ${what}`)
}

const depthOf = (h: Harness, caller: string): number =>
  h.broker.seatQueue.rows().find((row) => row.caller === caller)?.depth ?? 0

t.test('regression: a 37-call Promise.all got 5 × 429 from the broker itself; now the 5 wait and every call gets 200', async (t) => {
  const h = await startHarness(t, { config: { policy: ANYONE } })
  const held = heldRoute(h)
  const calls = Array.from({ length: 37 }, (_, index) => call(h, 'jira-sync', `/rest/api/3/held/${index}`))
  await until(() => held.inFlight() === 32 && depthOf(h, 'jira-sync') === 5, '32 upstream, 5 queued')
  held.letGo()
  const answers = await Promise.all(calls)
  t.same(answers.filter((answer) => answer.status !== 200), [], 'no 429: all 37 answered 200')
  t.equal(held.maxInFlight(), 32, 'never more than limits.callerMaxConcurrent upstream at once')
})

t.test('regression: 200 calls at once right after a start got 168 × 429; now all 200 are served', async (t) => {
  const h = await startHarness(t, { config: { policy: ANYONE } })
  const held = heldRoute(h)
  held.letGo()
  const answers = await Promise.all(Array.from({ length: 200 }, (_, index) => call(h, 'burst-job', `/rest/api/3/held/${index}`)))
  t.equal(answers.filter((answer) => answer.status === 200).length, 200, 'every call answered 200')
  t.ok(held.maxInFlight() <= 32, `at most 32 upstream at once (saw ${held.maxInFlight()})`)
  t.equal(held.order.length, 200, 'each went upstream once')
})

t.test('queued calls are served in the order they arrived', async (t) => {
  const h = await startHarness(t, { config: { policy: ANYONE, limits: { callerMaxConcurrent: 1 } } })
  const held = heldRoute(h)
  const calls = [call(h, 'ordered-job', '/rest/api/3/held/0')]
  await until(() => held.inFlight() === 1, 'the first call upstream')
  for (let index = 1; index <= 6; index++) {
    calls.push(call(h, 'ordered-job', `/rest/api/3/held/${index}`))
    await until(() => depthOf(h, 'ordered-job') === index, `call ${index} queued`)
  }
  held.letGo()
  t.same((await Promise.all(calls)).map((answer) => answer.status), [200, 200, 200, 200, 200, 200, 200])
  t.same(held.order, [0, 1, 2, 3, 4, 5, 6].map((index) => `/rest/api/3/held/${index}`), 'upstream in arrival order')
})

t.test('two greedy callers with many slow calls cannot starve a third: its GET gets the next free seat', async (t) => {
  const h = await startHarness(t, { config: { policy: ANYONE, limits: { queue: { seats: 4 } } } })
  const held = heldRoute(h)
  const calls: Array<Promise<Answer>> = []
  for (const caller of ['greedy-a', 'greedy-b']) {
    for (let index = 0; index < 2; index++) calls.push(call(h, caller, `/rest/api/3/held/${caller}-${index}`))
  }
  await until(() => held.inFlight() === 4, 'both greedy callers hold two seats each')
  for (const caller of ['greedy-a', 'greedy-b']) {
    for (let index = 2; index < 10; index++) calls.push(call(h, caller, `/rest/api/3/held/${caller}-${index}`))
  }
  await until(() => depthOf(h, 'greedy-a') === 8 && depthOf(h, 'greedy-b') === 8, 'each has 8 queued')
  const third = call(h, 'third-job', '/rest/api/3/held/third')
  await until(() => depthOf(h, 'third-job') === 1, 'the third caller queued behind them')
  held.letGo(1)
  await until(() => held.order.length === 5, 'one seat handed on')
  t.equal(held.order[4], '/rest/api/3/held/third', 'the freed seat went to the third caller, before 16 older queued calls')
  held.letGo()
  t.equal((await third).status, 200)
  t.equal((await Promise.all(calls)).filter((answer) => answer.status === 200).length, 20, 'and the greedy calls are all served')
})

t.test('a full queue answers 429 BROKER_ERR_CALLER_QUEUE_FULL with Retry-After, and nothing goes upstream', async (t) => {
  const limits = { callerMaxConcurrent: 1, queue: { maxPerCaller: 2 } }
  const h = await startHarness(t, { config: { policy: ANYONE, limits } })
  const held = heldRoute(h)
  const calls = [call(h, 'full-job', '/rest/api/3/held/0')]
  await until(() => held.inFlight() === 1, 'one upstream')
  calls.push(call(h, 'full-job', '/rest/api/3/held/1'), call(h, 'full-job', '/rest/api/3/held/2'))
  await until(() => depthOf(h, 'full-job') === 2, 'two queued')
  t.same(await call(h, 'full-job', '/rest/api/3/held/3'), { status: 429, code: 'BROKER_ERR_CALLER_QUEUE_FULL', retryAfter: '1' })
  held.letGo()
  t.same((await Promise.all(calls)).map((answer) => answer.status), [200, 200, 200])
  t.equal(held.order.length, 3, 'the refused call never reached Atlassian')
})

t.test('a call queued past limits.queue.maxWaitMs answers 429 BROKER_ERR_CALLER_QUEUE_TIMEOUT with Retry-After', async (t) => {
  const clock = new ManualClock()
  const limits = { callerMaxConcurrent: 1, queue: { maxWaitMs: 2_000 } }
  const h = await startHarness(t, { clock, config: { policy: ANYONE, limits } })
  const held = heldRoute(h)
  const first = call(h, 'patient-job', '/rest/api/3/held/0')
  await until(() => held.inFlight() === 1, 'one upstream')
  const second = call(h, 'patient-job', '/rest/api/3/held/1')
  await until(() => depthOf(h, 'patient-job') === 1, 'one queued')
  await clock.advance(2_000)
  t.same(await second, { status: 429, code: 'BROKER_ERR_CALLER_QUEUE_TIMEOUT', retryAfter: '1' })
  held.letGo()
  t.equal((await first).status, 200)
  t.equal(held.order.length, 1, 'the timed-out call never reached Atlassian')
  const metrics = await (await request(`${h.url}/metrics`)).body.text()
  t.match(metrics, /atlassian_broker_rate_limited_responses_total\{caller="other",integration="jira-main",source="caller_limit"\} 1\n/, 'counted as the caller\'s limit')
})

t.test('a queued call whose caller goes away leaves the queue and never goes upstream', async (t) => {
  const h = await startHarness(t, { config: { policy: ANYONE, limits: { callerMaxConcurrent: 1 } } })
  const held = heldRoute(h)
  const first = call(h, 'flaky-job', '/rest/api/3/held/0')
  await until(() => held.inFlight() === 1, 'one upstream')
  const controller = new AbortController()
  const leaving = call(h, 'flaky-job', '/rest/api/3/held/gone', controller.signal).catch((error: unknown) => error)
  await until(() => depthOf(h, 'flaky-job') === 1, 'queued')
  controller.abort()
  await until(() => depthOf(h, 'flaky-job') === 0, 'its place freed')
  t.match(await leaving, { name: 'AbortError' })
  held.letGo()
  t.equal((await first).status, 200)
  t.equal((await call(h, 'flaky-job', '/rest/api/3/held/after')).status, 200, 'the next call is served')
  t.same(held.order, ['/rest/api/3/held/0', '/rest/api/3/held/after'], 'the abandoned call never went upstream')
})

t.test('/metrics and the ops view (/admin/ops) show queue depth per caller while calls wait, and their wait once admitted', async (t) => {
  const policy = [{ caller: 'report-job', integration: 'jira-main', methods: ['GET'], paths: ['/rest/api/3/**'] }]
  const callers = { jwt: { audience: 'atlassian-broker', hs256Secret: CALLER_SECRET }, admin: { role: 'broker-admin' } }
  const h = await startHarness(t, { config: { policy, callers, limits: { callerMaxConcurrent: 1 } } })
  const held = heldRoute(h)
  const calls = [call(h, 'report-job', '/rest/api/3/held/0')]
  await until(() => held.inFlight() === 1, 'one upstream')
  calls.push(call(h, 'report-job', '/rest/api/3/held/1'), call(h, 'report-job', '/rest/api/3/held/2'))
  await until(() => depthOf(h, 'report-job') === 2, 'two queued')
  const waiting = await (await request(`${h.url}/metrics`)).body.text()
  t.match(waiting, /atlassian_broker_queued_calls\{caller="report-job",integration="jira-main"\} 2\n/)
  const admin = { authorization: `Bearer ${h.callerToken('ops-alice', { roles: ['broker-admin'] })}` }
  const ops = await (await request(`${h.url}/admin/ops?caller=report-job`, { headers: admin })).body.json() as OpsSnapshot
  t.match(ops.queues, [{ integration: 'jira-main', caller: 'report-job', depth: 2, seatsInUse: 1 }], 'the ops view')
  held.letGo()
  await Promise.all(calls)
  const after = await (await request(`${h.url}/metrics`)).body.text()
  t.match(after, /atlassian_broker_queue_wait_seconds_count\{caller="report-job",integration="jira-main",outcome="admitted"\} 2\n/)
  t.notMatch(after, /atlassian_broker_queued_calls\{caller="report-job"/, 'no row once nothing waits or runs')
})

const noRedis = findRedisServer() === undefined ? 'redis-server is not installed (.ci/run installs it)' : false

t.test('fleet mode (Redis up): the same queueing, seats being the sidecar\'s own connections', { skip: noRedis }, async (t) => {
  const redis = await RedisServer.start(t)
  const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }, { product: 'confluence', cloudId: WIKI_CLOUD_ID }] })
  const fleet = { redis: { url: redis.url, keyPrefix: 'queue-fleet' }, podName: 'pod-a' }
  const h = await startHarness(t, { fake, config: { policy: ANYONE, limits: { callerMaxConcurrent: 2 }, fleet } })
  await until(() => h.broker.fleet?.link.connected === true, 'connected to Redis')
  const held = heldRoute(h)
  const calls = Array.from({ length: 7 }, (_, index) => call(h, 'fleet-job', `/rest/api/3/held/${index}`))
  await until(() => held.inFlight() === 2 && depthOf(h, 'fleet-job') === 5, '2 upstream, 5 queued')
  held.letGo()
  t.same((await Promise.all(calls)).map((answer) => answer.status), [200, 200, 200, 200, 200, 200, 200], 'no 429')
  t.equal(held.maxInFlight(), 2)
})
