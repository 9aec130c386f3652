/**
 * Atlassian's points pools fleet-wide (src/fleet/fleet-pools.ts) on a real redis-server: a pool one pod saw shows in
 * every pod's fleet view, the newest reading wins even when an older one is published after it, and junk written
 * into the pools hash (a future-dated reading, a malformed value, a huge hash, another type) is skipped or replaced,
 * never shown. Sidecars share one manual clock; the usage flush that publishes the pools is called by hand.
 */
import t, { type Test } from 'tap'
import { request } from 'undici'
import { FleetKeys } from '../../src/fleet/keys.js'
import { startHarness, CALLER_SECRET, JIRA_CLOUD_ID, type Harness } from '../helpers/broker-harness.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { findRedisServer, RedisServer } from '../helpers/redis-server.js'

const ADMIN_CALLERS = { jwt: { audience: 'atlassian-broker', hs256Secret: CALLER_SECRET }, admin: { role: 'broker-admin' } }
const PREFIX = 'ab-pools'
const POOLS_KEY = new FleetKeys(PREFIX).pools
const FIELD = 'jira-main\u0000global-app-quota'

interface Pool { integration: string, policy: string, remaining: number | null, pod?: string, seenAt: string }

async function until (t: Test, what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 8_000
  while (!check()) {
    if (Date.now() > deadline) { t.fail(`timed out waiting: ${what}`); return }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** One proxied call whose answer carries the global pool with `remaining` points left. */
async function seePool (h: Harness, remaining: number): Promise<void> {
  h.fake.setNextResponses((r) => r.endpoint === 'gateway', [{
    status: 200,
    headers: {
      'content-type': 'application/json',
      'Beta-RateLimit-Policy': '"global-app-quota";q=65000;w=3600',
      'Beta-RateLimit': `"global-app-quota";r=${remaining};t=600`
    },
    body: {}
  }])
  const authorization = `Bearer ${h.callerToken('report-job')}`
  const res = await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: { authorization } })
  await res.body.dump()
  if (res.statusCode !== 200) throw new Error(`proxied call answered ${res.statusCode}`)
}

async function pools (h: Harness, scope: 'pod' | 'fleet'): Promise<Pool[]> {
  const authorization = `Bearer ${h.callerToken('ops-alice', { roles: ['broker-admin'] })}`
  const res = await request(`${h.url}/admin/usage?scope=${scope}`, { headers: { authorization } })
  if (res.statusCode !== 200) throw new Error(`usage answered ${res.statusCode}`)
  return (await res.body.json() as { pools: Pool[] }).pools
}

const remainingOf = (rows: Pool[]): Array<[number | null, string | undefined]> =>
  rows.map((row) => [row.remaining, row.pod])

t.test('Atlassian pools fleet-wide on a real redis-server', { skip: findRedisServer() === undefined ? 'redis-server is not installed' : false }, async (t) => {
  const redis = await RedisServer.start(t)
  const clock = new ManualClock(Date.parse('2026-11-23T12:00:00Z'))
  const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }] })
  const brokers: Harness[] = []
  for (const podName of ['pod-a', 'pod-b']) {
    const fleet = { redis: { url: redis.url, keyPrefix: PREFIX }, podName }
    const h = await startHarness(t, { fake, clock, config: { callers: ADMIN_CALLERS, fleet } })
    await until(t, `${podName} connects`, () => h.broker.fleet?.link.connected === true)
    brokers.push(h)
  }
  const [a, b] = brokers as [Harness, Harness]
  const flush = async (h: Harness): Promise<void> => { await h.broker.fleet?.usage?.flush() }
  const inspect = redis.client()
  t.teardown(() => { inspect.disconnect() })

  await seePool(b, 9_000)
  await flush(b)
  t.same(await pools(a, 'pod'), [], 'pod-a itself has seen no pool')
  t.same(remainingOf(await pools(a, 'fleet')), [[9_000, 'pod-b']], "pod-a's fleet view shows pod-b's reading")

  // pod-b reads the pool first, pod-a a moment later; pod-a publishes first, then pod-b its older reading.
  await clock.advance(5)
  await seePool(b, 8_000)
  await clock.advance(5)
  await seePool(a, 7_000)
  await flush(a)
  await flush(b)
  t.same(remainingOf(await pools(b, 'fleet')), [[7_000, 'pod-a']], 'the newest reading wins, though published first')
  t.same(remainingOf(await pools(b, 'pod')), [[8_000, undefined]], 'pod-b itself still shows its own last reading')

  // A reading "seen" in the future would win forever: it is not shown, and the next real reading replaces it.
  const future = clock.now() + 24 * 3_600_000
  const forged = { integration: 'jira-main', policy: 'global-app-quota', enforced: false, quota: 65_000, windowSeconds: 3_600, remaining: 1, resetAt: null, seenAt: new Date(future).toISOString(), reconciled: { intervals: 0, observedPoints: 0, estimatedPoints: 0 }, pod: 'mallory' }
  await inspect.hset(POOLS_KEY, FIELD, `${future}\t${JSON.stringify(forged)}`, 'junk-field', 'not json', 'jira-main\u0000other', `1\t${JSON.stringify({ ...forged, remaining: 'lots' })}`)
  t.same(await pools(b, 'fleet'), [], 'a future-dated reading and malformed values are not shown')
  t.equal(b.broker.fleet!.rejections.total('pools', 'malformed'), 3, 'and each is counted')
  await clock.advance(5)
  await seePool(a, 6_000)
  await flush(a)
  t.same(remainingOf(await pools(b, 'fleet')), [[6_000, 'pod-a']], 'the next real reading replaces the future-dated one')

  // A huge hash is neither read nor walked: the next publish discards it whole and writes its reading.
  const junk: string[] = []
  for (let index = 0; index < 5_000; index++) junk.push(`junk-${index}`, 'x')
  await inspect.hset(POOLS_KEY, ...junk)
  t.same(remainingOf(await pools(b, 'fleet')), [[8_000, undefined]], 'an oversized hash is not read: the pod shows its own')
  t.equal(b.broker.fleet!.rejections.total('pools', 'oversized'), 1, 'counted')
  await clock.advance(5)
  await seePool(b, 5_000)
  await flush(b)
  t.equal(await inspect.hlen(POOLS_KEY), 1, 'the next publish discarded it')
  t.same(remainingOf(await pools(a, 'fleet')), [[5_000, 'pod-b']], 'and wrote its reading')
  t.ok(await inspect.ttl(POOLS_KEY) > 3_600, 'the hash has its TTL')

  await inspect.del(POOLS_KEY)
  await inspect.set(POOLS_KEY, 'a string')
  t.same(remainingOf(await pools(a, 'fleet')), [[6_000, undefined]], 'another type under the key is not read')
  await clock.advance(5)
  await seePool(a, 4_000)
  await flush(a)
  t.same(remainingOf(await pools(b, 'fleet')), [[4_000, 'pod-a']], 'and is replaced by the next publish')

  await clock.advance(61 * 60_000)
  t.same(await pools(b, 'fleet'), [], 'a reading over an hour old is no longer shown fleet-wide')

  await redis.stop()
  await seePool(a, 3_000)
  t.same(remainingOf(await pools(a, 'fleet')), [[3_000, undefined]], 'Redis gone: the fleet view shows the pod\'s own pools')
})
