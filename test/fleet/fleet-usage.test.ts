/**
 * Fleet usage on a real redis-server: every pod publishes its whole hour, so an empty Redis (FLUSHALL, a restart)
 * loses nothing the pods still hold, and `complete` says when the fleet view is missing data. Minutes and flushes run
 * on one manual clock shared by the sidecars.
 */
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startHarness, type Harness } from '../helpers/broker-harness.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { findRedisServer, RedisServer } from '../helpers/redis-server.js'
import { CALLER_SECRET, JIRA_CLOUD_ID, WIKI_CLOUD_ID } from '../helpers/broker-harness.js'
import { fleetSnapshot, readFleetHour } from '../../src/fleet/fleet-usage-view.js'

const ADMIN_CALLERS = { jwt: { audience: 'atlassian-broker', hs256Secret: CALLER_SECRET }, admin: { role: 'broker-admin' } }
const MINUTE = 60_000

interface FleetView {
  complete: boolean
  pods: Array<{ pod: string, last5m: number, last1h: number }>
  series: Array<{
    caller: string
    last5m: { requests: number, p50Ms: number | null }
    last1h: { requests: number, errors: number, points: number }
    pointsByMinute: number[]
  }>
  pools: Array<{ integration: string, policy: string }>
}

async function until (t: Test, what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 8_000
  while (!check()) {
    if (Date.now() > deadline) { t.fail(`timed out waiting: ${what}`); return }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

async function sidecars (t: Test, redis: RedisServer, clock: ManualClock, pods: string[]): Promise<Harness[]> {
  const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }, { product: 'confluence', cloudId: WIKI_CLOUD_ID }] })
  const brokers: Harness[] = []
  for (const podName of pods) {
    const h = await startHarness(t, { fake, clock, config: { callers: ADMIN_CALLERS, fleet: { redis: { url: redis.url, keyPrefix: 'ab-usage' }, podName } } })
    await until(t, `${podName} connects`, () => h.broker.fleet?.link.connected === true)
    brokers.push(h)
  }
  return brokers
}

async function calls (h: Harness, count: number): Promise<void> {
  const statuses = await Promise.all(Array.from({ length: count }, async () => {
    const res = await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: { authorization: `Bearer ${h.callerToken('report-job')}` } })
    await res.body.dump()
    return res.statusCode
  }))
  if (statuses.some((status) => status !== 200)) throw new Error(`unexpected statuses ${statuses.join(',')}`)
}

async function fleetView (h: Harness): Promise<FleetView> {
  const res = await request(`${h.url}/admin/usage?scope=fleet`, { headers: { authorization: `Bearer ${h.callerToken('ops-alice', { roles: ['broker-admin'] })}` } })
  if (res.statusCode !== 200) throw new Error(`fleet view answered ${res.statusCode}`)
  return await res.body.json() as FleetView
}

const flush = async (brokers: Harness[]): Promise<void> => {
  for (const h of brokers) await h.broker.fleet?.usage?.flush()
}
const requests = (view: FleetView): number => view.series.reduce((sum, entry) => sum + entry.last1h.requests, 0)

t.test('fleet usage on a real redis-server', { skip: findRedisServer() === undefined ? 'redis-server is not installed (.ci/run installs it)' : false }, async (t) => {
  t.test('regression: after Redis restarted empty the fleet view kept only the last minute of a 400-call herd and still said complete', async (t) => {
    const redis = await RedisServer.start(t)
    const clock = new ManualClock(Date.parse('2026-11-23T12:00:00Z'))
    const brokers = await sidecars(t, redis, clock, ['pod-a', 'pod-b'])
    const [a, b] = brokers as [Harness, Harness]
    a.fake.betaRateLimitHeaders = true
    // The herd: 20 calls a minute on each of two sidecars, for ten minutes.
    for (let minute = 0; minute < 10; minute++) {
      await calls(a, 20)
      await calls(b, 20)
      await clock.advance(MINUTE)
    }
    await flush(brokers)
    let view = await fleetView(a)
    t.equal(requests(view), 400, 'the herd, counted by the fleet')
    t.equal(view.complete, true)
    t.same(view.pods.map((pod) => [pod.pod, pod.last1h, pod.last5m]), [['pod-a', 200, 80], ['pod-b', 200, 80]], 'per pod, last hour and last 5 minutes')
    t.type(view.series[0]?.last5m.p50Ms, 'number', 'latency percentiles merged across pods')
    t.equal(view.series[0]?.last1h.points, 400, 'points (1 per call of /myself) added up across pods')
    t.same(view.series[0]?.pointsByMinute.slice(-11), [...new Array<number>(10).fill(40), 0], 'per minute, oldest first')
    t.match(view.pools, [{ integration: 'jira-main', policy: 'global-app-quota', quota: 65_000, remaining: 11_000 }], 'the pool as last seen')

    const inspect = redis.client()
    t.teardown(() => { inspect.disconnect() })
    await inspect.flushall()
    view = await fleetView(a)
    t.equal(view.complete, false, 'Redis lost the hour: pod-b has not published again, so the view says it is incomplete')
    t.same(view.pods.map((pod) => [pod.pod, pod.last1h]), [['pod-a', 200]], 'the reading pod wrote its whole hour back at once')
    await flush([b])
    view = await fleetView(a)
    t.equal(requests(view), 400, 'after the next flush every minute is back')
    t.equal(view.complete, false, 'still rebuilding: a pod that has not flushed since cannot be ruled out yet')
    await clock.advance(25_000)
    await flush(brokers)
    view = await fleetView(b)
    t.equal(requests(view), 400)
    t.equal(view.complete, true, 'two flush intervals later the record is whole again')

    await redis.restart()
    await until(t, 'both sidecars reconnect', () => brokers.every((h) => h.broker.fleet?.link.connected === true))
    await flush(brokers)
    view = await fleetView(a)
    t.equal(requests(view), 400, 'a restarted, empty redis-server: every minute back after the flush')
    t.same(view.pods.map((pod) => [pod.pod, pod.last1h]), [['pod-a', 200], ['pod-b', 200]])
    await clock.advance(25_000)
    t.equal((await fleetView(a)).complete, true)
  })

  t.test('complete is false while a minute is missing, or when the read was cut by its bound', async (t) => {
    const redis = await RedisServer.start(t)
    const clock = new ManualClock(Date.parse('2026-11-23T12:00:00Z'))
    const [a] = await sidecars(t, redis, clock, ['pod-a']) as [Harness]
    for (let minute = 0; minute < 3; minute++) {
      await calls(a, 5)
      await clock.advance(MINUTE)
    }
    await flush([a])
    t.match(await fleetView(a), { complete: true, pods: [{ pod: 'pod-a', last1h: 15 }] })

    const fleet = a.broker.fleet!
    const inspect = redis.client()
    t.teardown(() => { inspect.disconnect() })
    const startMinute = Math.floor(Date.parse('2026-11-23T12:00:00Z') / MINUTE)
    t.equal(await inspect.del(fleet.keys.usage(startMinute + 1)), 1, 'one minute evicted')
    const view = await fleetView(a)
    t.equal(view.complete, false, 'pod-a\'s 12:01 is gone: the view says so')
    t.equal(requests(view), 10, 'and shows what is left')

    const hour = await readFleetHour(fleet.link, fleet.keys, startMinute + 3, { maxFields: 2, maxChars: 1_000_000 })
    t.equal(hour?.truncated, true, 'a read bounded to two fields stops early')
    t.ok((hour?.minutes.length ?? 60) < 60)
    t.equal(fleetSnapshot(hour, { now: clock.now(), flushMs: 10_000 }).complete, false)
    t.equal(fleetSnapshot(undefined, { now: clock.now(), flushMs: 10_000 }).complete, false, 'Redis did not answer: not complete')
  })
})
