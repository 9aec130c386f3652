/**
 * Fleet-wide limits on a real redis-server, two brokers in one process: an integration `budget` shared max-min
 * fairly among its callers (a greedy caller cannot starve a light one; the idle share goes to the rest), a
 * `scope: fleet` rate limit counted across sidecars, leases instead of a round trip per call, and the local
 * fallback when Redis goes away. The budget and the fleet rate run on every topology (fleet-limits.test.ts: one
 * redis-server; fleet-cluster.test.ts: Redis Cluster); the fallback and slot tests stop Redis: single node only.
 */
import type { Test } from 'tap'
import { request } from 'undici'
import { startHarness, type Harness } from '../helpers/broker-harness.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'
import { JIRA_CLOUD_ID, WIKI_CLOUD_ID } from '../helpers/broker-harness.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { RedisServer } from '../helpers/redis-server.js'
import type { RedisUnderTest, Topology } from '../helpers/redis-topology.js'

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

export async function fleetLimitScenarios (t: Test, topology: Topology): Promise<void> {
  // Cases that stop Redis or need one node's keyspace run on the single node only: not registered elsewhere, so a
  // cluster run does not count them as skipped (a skip in CI means a missing program).
  const onSingleNode: typeof t.test = topology.name === 'single' ? t.test.bind(t) : (() => Promise.resolve()) as unknown as typeof t.test
  const policy = [
    { caller: '*', integration: 'jira-main', methods: ['GET'], paths: ['/**'] },
    { caller: '*', integration: 'wiki-main', methods: ['GET'], paths: ['/**'], rateLimit: { perSecond: 10, burst: 5, scope: 'fleet' } }
  ]
  const integrations = {
    'jira-main': { product: 'jira', cloudId: JIRA_CLOUD_ID, budget: { perSecond: 20, burst: 5 } },
    'wiki-main': { product: 'confluence', cloudId: WIKI_CLOUD_ID }
  }

  async function pair (t: Test, redis: RedisUnderTest): Promise<Harness[]> {
    const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }, { product: 'confluence', cloudId: WIKI_CLOUD_ID }] })
    const brokers: Harness[] = []
    for (const pod of ['pod-a', 'pod-b']) {
      const h = await startHarness(t, { fake, config: { policy, integrations, fleet: { redis: { ...redis.where(), keyPrefix: 'limits' }, podName: pod } } })
      for (let tries = 0; tries < 500 && h.broker.fleet?.link.connected !== true; tries++) await sleep(20)
      brokers.push(h)
    }
    return brokers
  }

  /** Calls in a loop until `stop`, at most one every `gapMs`; counts admitted and refused answers. */
  function loop (
    h: Harness,
    caller: string,
    path: string,
    gapMs: number,
    stop: { done: boolean }
  ): { ok: number, refused: number, other: number, done: Promise<void> } {
    const counts = { ok: 0, refused: 0, other: 0, done: Promise.resolve() }
    const auth = `Bearer ${h.callerToken(caller)}`
    counts.done = (async () => {
      while (!stop.done) {
        const res = await request(`${h.url}${path}`, { headers: { authorization: auth } })
        await res.body.dump()
        if (res.statusCode === 200) counts.ok++
        else if (res.statusCode === 429) counts.refused++
        else counts.other++
        await sleep(gapMs)
      }
    })()
    return counts
  }

  t.test('a budget is shared max-min fairly across sidecars: a greedy caller does not starve a light one', async (t) => {
    const redis = await topology.fresh(t)
    const [a, b] = await pair(t, redis)
    const stop = { done: false }
    const greedy = [loop(a!, 'greedy-job', '/proxy/jira-main/rest/api/3/myself', 0, stop), loop(b!, 'greedy-job', '/proxy/jira-main/rest/api/3/myself', 0, stop), loop(a!, 'greedy-job', '/proxy/jira-main/rest/api/3/myself', 0, stop)]
    // The light caller asks about 8/s from two sidecars, under an equal share (10/s); its calls bunch when both
    // sidecars ask at once, which its bucket's burst must absorb (fair-share.lua.ts).
    const light = [loop(a!, 'light-job', '/proxy/jira-main/rest/api/3/myself', 250, stop), loop(b!, 'light-job', '/proxy/jira-main/rest/api/3/myself', 250, stop)]
    const startedAt = Date.now()
    await sleep(4_000)
    stop.done = true
    // The window in which calls were admitted ends now: the calls still in flight were admitted before.
    const seconds = (Date.now() - startedAt) / 1000
    await Promise.all([...greedy, ...light].map((counts) => counts.done))
    const sum = (list: typeof greedy, key: 'ok' | 'refused' | 'other'): number => list.reduce((total, counts) => total + counts[key], 0)
    const lightOk = sum(light, 'ok')
    const lightAll = lightOk + sum(light, 'refused')
    const greedyOk = sum(greedy, 'ok')
    t.equal(sum([...greedy, ...light], 'other'), 0, 'only 200s and 429s')
    t.ok(sum(greedy, 'refused') > greedyOk, `the greedy caller is throttled (${greedyOk} admitted, ${sum(greedy, 'refused')} refused)`)
    const greedyRate = greedyOk / Math.max(1, greedyOk + sum(greedy, 'refused'))
    const total = greedyOk + lightOk
    t.ok(lightOk >= lightAll * 0.8, `the light caller (under its fair share) gets its calls through: ${lightOk} of ${lightAll}`)
    // Without the fair division every caller draws from one bucket and is admitted at the fleet's overall rate (a
    // ratio near 1). Not "10 times the greedy caller's rate": that rate is set by how fast the machine lets it ask
    // (0.03 idle, 0.38 at load 17 where it asked 35 times a second), the light caller's by the division.
    const overall = total / Math.max(1, sum([...greedy, ...light], 'ok') + sum([...greedy, ...light], 'refused'))
    t.ok(lightOk / Math.max(1, lightAll) >= 1.5 * overall,
      `far more often than one shared bucket would admit it (${overall.toFixed(2)}; the greedy caller ${greedyRate.toFixed(2)})`)
    // 20 per second plus the initial bursts (5 per active caller at most).
    t.ok(total <= 20 * seconds * 1.1 + 10, `the fleet admitted ${total} in ${seconds} s for a budget of 20/s (+ bursts of 5)`)
    // Nothing is wasted beyond what the light caller is kept (fair-share.lua.ts): its measured rate and a quarter,
    // never more than an equal share; the greedy one gets all the rest. Not "20/s in total": a loaded machine slows the
    // light caller below 8/s (6/s at load 8), and the quarter it is kept then leaves the total under 18/s by design.
    // It cannot get more than it asked for (a starved machine asks slowly), and a quarter may go unused: a lease is a
    // whole block taken when a sidecar asks, so a sidecar asking late (timers late under load) lets its bucket, one
    // burst deep, overflow. An equal split (10/s each) still falls short of this when the light caller is slow.
    const kept = Math.min(10, 1.25 * lightAll / seconds)
    const greedyDue = Math.min((20 - kept) * seconds, greedyOk + sum(greedy, 'refused'))
    t.ok(greedyOk >= greedyDue * 0.75, `the greedy caller gets the rest: ${greedyOk} admitted, ${greedyDue.toFixed(1)} due`)
    t.ok(a!.broker.fleet!.limits.roundTrips + b!.broker.fleet!.limits.roundTrips < sum([...greedy, ...light], 'ok') + sum([...greedy, ...light], 'refused'), 'fewer Redis round trips than calls')
  })

  t.test('a `scope: fleet` rateLimit is counted across sidecars', async (t) => {
    const redis = await topology.fresh(t)
    const [a, b] = await pair(t, redis)
    const stop = { done: false }
    const startedAt = Date.now()
    const loops = [loop(a!, 'sync-job', '/proxy/wiki-main/wiki/rest/api/user/current', 0, stop), loop(b!, 'sync-job', '/proxy/wiki-main/wiki/rest/api/user/current', 0, stop)]
    await sleep(2_000)
    stop.done = true
    await Promise.all(loops.map((counts) => counts.done))
    const seconds = (Date.now() - startedAt) / 1000
    const ok = loops[0]!.ok + loops[1]!.ok
    t.ok(ok <= 10 * seconds * 1.1 + 5, `two sidecars together admitted ${ok} in ${seconds} s for 10/s + a burst of 5 (counted per pod: about ${Math.round(2 * (10 * seconds + 5))})`)
    t.ok(ok >= 10 * seconds * 0.9, `and not less (${ok})`)
  })

  /** One sidecar on a manual clock, connected to Redis, then Redis stopped: time moves only when the test says. */
  async function stranded (
    t: Test,
    config: Record<string, unknown>
  ): Promise<{ h: Harness, clock: ManualClock, redis: RedisServer }> {
    const redis = await RedisServer.start(t)
    const clock = new ManualClock(Date.now())
    const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }, { product: 'confluence', cloudId: WIKI_CLOUD_ID }] })
    const h = await startHarness(t, { fake, clock, config: { policy, integrations, ...config, fleet: { redis: { url: redis.url, keyPrefix: 'stranded' }, podName: 'pod-a' } } })
    for (let tries = 0; tries < 500 && h.broker.fleet?.link.connected !== true; tries++) await sleep(20)
    t.equal(h.broker.fleet?.link.connected, true, 'connected to Redis')
    return { h, clock, redis }
  }

  async function statusOf (h: Harness, caller: string, path: string): Promise<number> {
    const res = await request(`${h.url}${path}`, { headers: { authorization: `Bearer ${h.callerToken(caller)}` } })
    await res.body.dump()
    return res.statusCode
  }

  const admitted = (statuses: number[]): number => statuses.filter((status) => status === 200).length

  onSingleNode('Redis gone: the sidecar counts the limit itself, exactly one bucket per rule and caller (burst, then the rate)', async (t) => {
    const { h, clock, redis } = await stranded(t, {})
    const wiki = '/proxy/wiki-main/wiki/rest/api/user/current'
    t.equal(await statusOf(h, 'sync-job', wiki), 200, 'a call while Redis is up (leased)')
    await redis.stop()
    for (let tries = 0; tries < 200 && h.broker.fleet?.link.connected !== false; tries++) await sleep(20)
    await clock.advance(1_000) // the lease has expired: nothing leased is left to spend
    const burst = []
    for (let i = 0; i < 8; i++) burst.push(await statusOf(h, 'sync-job', wiki))
    t.equal(admitted(burst), 5, `the burst of 5 and no more (${JSON.stringify(burst)})`)
    t.equal(burst.filter((status) => status === 429).length, 3, 'the rest refused, nothing failed')
    await clock.advance(200)
    const refilled = []
    for (let i = 0; i < 4; i++) refilled.push(await statusOf(h, 'sync-job', wiki))
    t.equal(admitted(refilled), 2, `200 ms at 10/s: exactly 2 more (${JSON.stringify(refilled)})`)
  })

  onSingleNode('with Redis stopped, two callers sharing a budget of N get N in total, not N each (one bucket per budget, as without fleet mode)', async (t) => {
    const { h, clock, redis } = await stranded(t, {})
    const jira = '/proxy/jira-main/rest/api/3/myself'
    await redis.stop()
    for (let tries = 0; tries < 200 && h.broker.fleet?.link.connected !== false; tries++) await sleep(20)
    const statuses = []
    for (let i = 0; i < 8; i++) statuses.push(await statusOf(h, i % 2 === 0 ? 'job-a' : 'job-b', jira))
    t.equal(admitted(statuses), 5, `the budget's burst of 5 for both callers together (${JSON.stringify(statuses)})`)
    await clock.advance(100)
    const refilled = [await statusOf(h, 'job-a', jira), await statusOf(h, 'job-b', jira), await statusOf(h, 'job-b', jira)]
    t.equal(admitted(refilled), 2, `100 ms at 20/s: 2 more for both together (${JSON.stringify(refilled)})`)
  })

  onSingleNode('with maxConcurrentScope: fleet a call holds exactly one slot: a limit of 2 admits 2 on one sidecar, and Redis counts those 2', async (t) => {
    const redis = await RedisServer.start(t)
    const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }, { product: 'confluence', cloudId: WIKI_CLOUD_ID }] })
    let reached = 0
    let finish!: () => void
    const held = new Promise<void>((resolve) => { finish = resolve })
    fake.addRoute({ product: 'jira', path: '/rest/api/3/held', respond: async () => { reached++; await held; return { status: 200, body: { ok: true } } } })
    const rules = [{ caller: '*', integration: 'jira-main', methods: ['GET'], paths: ['/**'], maxConcurrent: 2, maxConcurrentScope: 'fleet' }]
    // The caller's default share is 1: a rule's own maxConcurrent replaces it, it is not counted beside it.
    const h = await startHarness(t, { fake, config: { policy: rules, limits: { callerMaxConcurrent: 1 }, fleet: { redis: { url: redis.url, keyPrefix: 'one-slot' }, podName: 'pod-a' } } })
    for (let tries = 0; tries < 500 && h.broker.fleet?.link.connected !== true; tries++) await sleep(20)
    const first = statusOf(h, 'sync-job', '/proxy/jira-main/rest/api/3/held')
    const second = statusOf(h, 'sync-job', '/proxy/jira-main/rest/api/3/held')
    for (let tries = 0; tries < 250 && reached < 2; tries++) await sleep(20)
    t.equal(reached, 2, 'both calls of a limit of 2 reached Atlassian')
    const inspect = redis.client()
    t.teardown(() => { inspect.disconnect() })
    const [slotKey] = await inspect.keys('one-slot:*:in-flight')
    t.equal(await inspect.zcard(slotKey!), 2, 'Redis counts the 2 calls in flight')
    t.equal(await statusOf(h, 'sync-job', '/proxy/jira-main/rest/api/3/myself'), 429, 'a third is refused')
    finish()
    t.same([await first, await second], [200, 200])
    for (let tries = 0; tries < 100 && await inspect.zcard(slotKey!) > 0; tries++) await sleep(20)
    t.equal(await inspect.zcard(slotKey!), 0, 'both slots released')
    t.equal(await statusOf(h, 'sync-job', '/proxy/jira-main/rest/api/3/myself'), 200, 'and admitted again')
  })

  onSingleNode('maxConcurrentScope: fleet counts calls in flight on every sidecar; without Redis each counts its own', async (t) => {
    const redis = await RedisServer.start(t)
    const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }, { product: 'confluence', cloudId: WIKI_CLOUD_ID }] })
    let inFlight = 0
    let peak = 0
    fake.addRoute({
      product: 'jira',
      path: '/rest/api/3/slow',
      respond: async () => {
        inFlight++
        peak = Math.max(peak, inFlight)
        await sleep(200)
        inFlight--
        return { status: 200, body: { ok: true } }
      }
    })
    const rules = [{ caller: '*', integration: 'jira-main', methods: ['GET'], paths: ['/**'], maxConcurrent: 2, maxConcurrentScope: 'fleet' }]
    const brokers: Harness[] = []
    for (const pod of ['pod-a', 'pod-b']) {
      const h = await startHarness(t, { fake, config: { policy: rules, fleet: { redis: { url: redis.url, keyPrefix: 'slots' }, podName: pod } } })
      for (let tries = 0; tries < 500 && h.broker.fleet?.link.connected !== true; tries++) await sleep(20)
      brokers.push(h)
    }
    const statuses = async (): Promise<number[]> =>
      await Promise.all(
        brokers.flatMap((h) =>
          Array.from({ length: 4 }, async () => {
            const res = await request(`${h.url}/proxy/jira-main/rest/api/3/slow`, {
              headers: { authorization: `Bearer ${h.callerToken('sync-job')}` }
            })
            await res.body.dump()
            return res.statusCode
          })
        )
      )
    await Promise.all(brokers.map(async (h) => { await (await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: { authorization: `Bearer ${h.callerToken('sync-job')}` } })).body.dump() }))
    const fleetWide = await statuses()
    t.equal(fleetWide.filter((status) => status === 200).length, 2, `2 admitted across both sidecars (${JSON.stringify(fleetWide)})`)
    t.equal(fleetWide.filter((status) => status === 429).length, 6, 'the rest refused with 429')
    t.equal(peak, 2, 'Atlassian never saw more than 2 at once')
    const inspect = redis.client()
    t.teardown(() => { inspect.disconnect() })
    const [slotKey] = await inspect.keys('slots:*:in-flight')
    for (let tries = 0; tries < 100 && await inspect.zcard(slotKey!) > 0; tries++) await sleep(20)
    t.equal(await inspect.zcard(slotKey!), 0, 'every slot was released')

    await redis.stop()
    peak = 0
    const local = await statuses()
    t.equal(local.filter((status) => status === 200).length, 4, 'Redis down: each sidecar admits its own 2')
    t.equal(local.filter((status) => status !== 200 && status !== 429).length, 0, 'and nothing fails')
  })
}
