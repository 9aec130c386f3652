/**
 * Fleet-wide limits on a real redis-server, two brokers in one process: an integration `budget` shared max-min
 * fairly among its callers (a greedy caller cannot starve a light one; the idle share goes to the rest), a
 * `scope: fleet` rate limit counted across sidecars, leases instead of a round trip per call, and the local
 * fallback when Redis goes away.
 */
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startHarness, type Harness } from '../helpers/broker-harness.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'
import { JIRA_CLOUD_ID, WIKI_CLOUD_ID } from '../helpers/broker-harness.js'
import { findRedisServer, RedisServer } from '../helpers/redis-server.js'

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

if (findRedisServer() === undefined) {
  t.pass('skipped: redis-server is not installed (.ci/run installs it)')
} else {
  t.test('fleet limits', async (t) => { await suite(t) })
}

async function suite (t: Test): Promise<void> {
  const policy = [
    { caller: '*', integration: 'jira-main', methods: ['GET'], paths: ['/**'] },
    { caller: '*', integration: 'wiki-main', methods: ['GET'], paths: ['/**'], rateLimit: { perSecond: 10, burst: 5, scope: 'fleet' } }
  ]
  const integrations = {
    'jira-main': { product: 'jira', cloudId: JIRA_CLOUD_ID, budget: { perSecond: 20, burst: 5 } },
    'wiki-main': { product: 'confluence', cloudId: WIKI_CLOUD_ID }
  }

  async function pair (t: Test, redis: RedisServer): Promise<Harness[]> {
    const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }, { product: 'confluence', cloudId: WIKI_CLOUD_ID }] })
    const brokers: Harness[] = []
    for (const pod of ['pod-a', 'pod-b']) {
      const h = await startHarness(t, { fake, config: { policy, integrations, fleet: { redis: { url: redis.url, keyPrefix: 'limits' }, podName: pod } } })
      for (let tries = 0; tries < 200 && h.broker.fleet?.link.connected !== true; tries++) await sleep(20)
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
    const redis = await RedisServer.start(t)
    const [a, b] = await pair(t, redis)
    const stop = { done: false }
    const greedy = [loop(a!, 'greedy-job', '/proxy/jira-main/rest/api/3/myself', 0, stop), loop(b!, 'greedy-job', '/proxy/jira-main/rest/api/3/myself', 0, stop), loop(a!, 'greedy-job', '/proxy/jira-main/rest/api/3/myself', 0, stop)]
    // The light caller asks about 8/s from two sidecars, under an equal share (10/s); its calls bunch when both
    // sidecars ask at once, which its bucket's burst must absorb (fair-share.lua.ts).
    const light = [loop(a!, 'light-job', '/proxy/jira-main/rest/api/3/myself', 250, stop), loop(b!, 'light-job', '/proxy/jira-main/rest/api/3/myself', 250, stop)]
    const startedAt = Date.now()
    await sleep(4_000)
    stop.done = true
    await Promise.all([...greedy, ...light].map((counts) => counts.done))
    const seconds = (Date.now() - startedAt) / 1000
    const sum = (list: typeof greedy, key: 'ok' | 'refused' | 'other'): number => list.reduce((total, counts) => total + counts[key], 0)
    const lightOk = sum(light, 'ok')
    const lightAll = lightOk + sum(light, 'refused')
    const greedyOk = sum(greedy, 'ok')
    t.equal(sum([...greedy, ...light], 'other'), 0, 'only 200s and 429s')
    t.ok(sum(greedy, 'refused') > greedyOk, `the greedy caller is throttled (${greedyOk} admitted, ${sum(greedy, 'refused')} refused)`)
    // Fairness, measured against the greedy caller rather than the clock: a loaded machine shifts both rates alike.
    const greedyRate = greedyOk / Math.max(1, greedyOk + sum(greedy, 'refused'))
    t.ok(lightOk >= lightAll * 0.8, `the light caller (under its fair share) gets its calls through: ${lightOk} of ${lightAll}`)
    t.ok(lightOk / Math.max(1, lightAll) >= 10 * greedyRate, `far more often than the greedy caller's (${greedyRate.toFixed(2)})`)
    const total = greedyOk + lightOk
    // 20 per second plus the initial bursts (5 per active caller at most).
    t.ok(total <= 20 * seconds * 1.1 + 10 && total >= 20 * seconds * 0.9, `the fleet admitted ${total} in ${seconds} s for a budget of 20/s (+ bursts of 5)`)
    t.ok(a!.broker.fleet!.limits.roundTrips + b!.broker.fleet!.limits.roundTrips < sum([...greedy, ...light], 'ok') + sum([...greedy, ...light], 'refused'), 'fewer Redis round trips than calls')
  })

  t.test('a `scope: fleet` rateLimit is counted across sidecars, and locally while Redis is gone', async (t) => {
    const redis = await RedisServer.start(t)
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

    await redis.stop()
    const again = { done: false }
    const local = [loop(a!, 'sync-job', '/proxy/wiki-main/wiki/rest/api/user/current', 20, again)]
    await sleep(1_000)
    again.done = true
    await Promise.all(local.map((counts) => counts.done))
    t.ok(local[0]!.ok > 0, `Redis down: the sidecar counts the limit itself and still admits (${local[0]!.ok})`)
    t.equal(local[0]!.other, 0, 'no failed call')
  })

  t.test('maxConcurrentScope: fleet counts calls in flight on every sidecar; without Redis each counts its own', async (t) => {
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
      for (let tries = 0; tries < 200 && h.broker.fleet?.link.connected !== true; tries++) await sleep(20)
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
