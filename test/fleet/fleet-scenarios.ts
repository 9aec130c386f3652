/**
 * Fleet mode with two or three brokers in one process on a real Redis: the shared token, the exchange lock, tampered
 * entries, the shared quota hold, fleet events, usage, and what Redis never holds in clear. The scenarios run on every
 * topology (fleet-in-process.test.ts: one redis-server; fleet-cluster.test.ts: Redis Cluster) apart from those that
 * stop Redis or give it an ACL file, which are the single node's.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Test } from 'tap'
import { request } from 'undici'
import { CLIENT_ID, CLIENT_SECRET, startHarness, type Harness } from '../helpers/broker-harness.js'
import { FakeAtlassian, rateLimited } from '../helpers/fake-atlassian.js'
import { RedisServer } from '../helpers/redis-server.js'
import type { RedisUnderTest, Topology } from '../helpers/redis-topology.js'
import { announceCredentialChange } from '../../src/fleet/announce.js'
import { parseConfig } from '../../src/config/load.js'
import { CALLER_SECRET, JIRA_CLOUD_ID, WIKI_CLOUD_ID } from '../helpers/broker-harness.js'

type T = Test

async function call (h: Harness, caller = 'report-job', path = '/rest/api/3/myself'): Promise<{ status: number, code: string | undefined, retryAfter: string | undefined }> {
  const res = await request(`${h.url}/proxy/jira-main${path}`, { headers: { authorization: `Bearer ${h.callerToken(caller)}` } })
  const text = await res.body.text()
  const code = res.statusCode >= 400 && text !== '' ? (JSON.parse(text) as { code?: string }).code : undefined
  const retryAfter = res.headers['retry-after']
  return { status: res.statusCode, code, retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined }
}

async function until (t: T, what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) { t.fail(`timed out waiting: ${what}`); return }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

export async function fleetScenarios (t: T, topology: Topology): Promise<void> {
  /** What a cluster run repeats: the behaviours, not the single node's failure modes. */
  // Cases that stop Redis or need one node's keyspace run on the single node only: not registered elsewhere, so a
  // cluster run does not count them as skipped (a skip in CI means a missing program).
  const onSingleNode: typeof t.test = topology.name === 'single' ? t.test.bind(t) : (() => Promise.resolve()) as unknown as typeof t.test
  const adminCallers = { jwt: { audience: 'atlassian-broker', hs256Secret: CALLER_SECRET }, admin: { role: 'broker-admin' } }

  async function fleetOf (t: T, size: number, redis: RedisUnderTest, prefix = 'ab-test'): Promise<{ fake: FakeAtlassian, brokers: Harness[] }> {
    const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }, { product: 'confluence', cloudId: WIKI_CLOUD_ID }] })
    const brokers: Harness[] = []
    for (let index = 0; index < size; index++) {
      const h = await startHarness(t, { fake, config: { callers: adminCallers, fleet: { redis: { ...redis.where(), keyPrefix: prefix }, podName: `pod-${index}` } } })
      await until(t, `pod-${index} connects`, () => h.broker.fleet?.link.connected === true, 10_000)
      brokers.push(h)
    }
    return { fake, brokers }
  }

  t.test('one exchange for the fleet; Redis holds the token sealed, never in clear', async (t) => {
    const redis = await topology.fresh(t)
    const { fake, brokers } = await fleetOf(t, 3, redis)
    const answers = await Promise.all(
      brokers.flatMap((h) => Array.from({ length: 30 }, async () => (await call(h)).status))
    )
    t.same(new Set(answers), new Set([200]), '90 cold calls on 3 sidecars all succeed')
    t.equal(fake.exchangesFor(CLIENT_ID), 1, 'exactly one exchange for the whole fleet')
    const logs = brokers.flatMap((h) => h.logs).join('\n')
    for (const secret of [...fake.tokensOf(CLIENT_ID), CLIENT_SECRET]) t.notOk(logs.includes(secret), 'no token or secret in the logs')

    const inspect = redis.client()
    t.teardown(() => { inspect.disconnect() })
    const keys = await redis.keys('*')
    t.ok(keys.some((key) => key.endsWith(':token:v1')), 'the shared token entry exists')
    t.ok(keys.every((key) => key.startsWith('ab-test:{ab-test:')), 'every key carries the prefix and a hash tag')
    const secrets = [...fake.tokensOf(CLIENT_ID), CLIENT_SECRET, CLIENT_ID]
    for (const key of keys) {
      const value = await inspect.dumpBuffer(key)
      const haystack = `${key}\n${value?.toString('latin1') ?? ''}\n${value?.toString('base64') ?? ''}`
      for (const secret of secrets) {
        t.notOk(haystack.includes(secret) || haystack.includes(Buffer.from(secret).toString('base64')), `no secret bytes in ${key}`)
      }
    }
  })

  onSingleNode('a dead exchange-lock holder: another sidecar takes over when the lock expires (the token timeout)', async (t) => {
    const redis = await topology.fresh(t)
    const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }, { product: 'confluence', cloudId: WIKI_CLOUD_ID }] })
    const atlassian = { tokenUrl: fake.tokenUrl, apiUrl: fake.url, timeouts: { tokenMs: 1_500 } }
    const brokers: Harness[] = []
    for (const pod of ['pod-a', 'pod-b']) {
      const h = await startHarness(t, { fake, config: { atlassian, fleet: { redis: { ...redis.where(), keyPrefix: 'ab-test' }, podName: pod } } })
      await until(t, `${pod} connects`, () => h.broker.fleet?.link.connected === true, 10_000)
      brokers.push(h)
    }
    const inspect = redis.client()
    t.teardown(() => { inspect.disconnect() })
    // A sidecar took the lock and died before writing the token.
    t.equal(await inspect.set('ab-test:{ab-test:jira-main}:exchange-lock', 'dead-pod', 'PX', 1_500, 'NX'), 'OK')
    const statuses = await Promise.all(
      brokers.flatMap((h) => Array.from({ length: 5 }, async () => (await call(h)).status))
    )
    t.same(new Set(statuses), new Set([200]), 'every call is answered once the lock has expired')
    t.equal(fake.exchangesFor(CLIENT_ID), 1, 'one sidecar took over: one exchange, not one per sidecar')
  })

  onSingleNode('a tampered, foreign or wrong-typed entry is a miss, never forwarded', async (t) => {
    const redis = await topology.fresh(t)
    const { fake, brokers: [a, b, c] } = await fleetOf(t, 3, redis)
    t.equal((await call(a!)).status, 200)
    const inspect = redis.client()
    t.teardown(() => { inspect.disconnect() })
    const [tokenKey] = await redis.keys('*:token:v1')
    const sealed = await inspect.get(tokenKey!)
    const raw = Buffer.from(sealed!, 'base64')
    raw[raw.length - 20] = raw[raw.length - 20]! ^ 1
    await inspect.set(tokenKey!, raw.toString('base64'), 'PX', 60_000)
    t.equal((await call(b!)).status, 200, 'a flipped bit: the sidecar exchanges itself')
    t.equal(fake.exchangesFor(CLIENT_ID), 2)
    await inspect.del(tokenKey!)
    await inspect.hset(tokenKey!, 'x', 'y')
    t.equal((await call(c!)).status, 200, 'a hash under the token key: no crash, a local exchange')
    t.equal(fake.exchangesFor(CLIENT_ID), 3)
    await inspect.publish('ab-test:events', 'not json')
    await inspect.publish('ab-test:events', JSON.stringify({ type: 'hold', integration: 'jira-main', holdMs: 'x', origin: 'evil' }))
    await inspect.publish('ab-test:events', JSON.stringify({ type: 'hold', integration: 'unknown', holdMs: 60_000, origin: 'evil' }))
    t.equal((await call(a!)).status, 200, 'garbage on the event channel changes nothing')
  })

  t.test('a quota 429 on one sidecar holds every sidecar, and one that starts later', async (t) => {
    const redis = await topology.fresh(t)
    const { fake, brokers: [a, b] } = await fleetOf(t, 2, redis)
    t.equal((await call(a!)).status, 200)
    fake.setNextResponses((r) => r.endpoint === 'gateway', [rateLimited({ retryAfterSeconds: 120, reason: 'jira-quota-global-based' })])
    t.equal((await call(a!)).status, 429, 'Atlassian\'s 429 reaches the caller on the sidecar that met it')
    await until(t, 'the hold reaches pod-1', () => b!.broker.quotaHold.heldUntil('jira-main') !== undefined)
    const hits = fake.requests.filter((r) => r.endpoint === 'gateway').length
    const held = await call(b!)
    t.equal(held.status, 429)
    t.equal(held.code, 'BROKER_ERR_UPSTREAM_RATE_LIMITED')
    t.ok(Number(held.retryAfter) > 100 && Number(held.retryAfter) <= 120, `the remaining Retry-After (${held.retryAfter})`)
    const late = await startHarness(t, { fake, config: { fleet: { redis: { ...redis.where(), keyPrefix: 'ab-test' }, podName: 'pod-late' } } })
    await until(t, 'the late sidecar loads the hold', () => late.broker.quotaHold.heldUntil('jira-main') !== undefined)
    t.equal((await call(late)).status, 429, 'a sidecar started during the hold is held too')
    t.equal(fake.requests.filter((r) => r.endpoint === 'gateway').length, hits, 'nothing reached Atlassian during the hold')
  })

  t.test('/admin/usage?scope=fleet adds up every pod\'s per-minute counters; garbage fields are skipped', async (t) => {
    const redis = await topology.fresh(t)
    const { fake, brokers: [a, b] } = await fleetOf(t, 2, redis)
    fake.betaRateLimitHeaders = true
    for (let i = 0; i < 3; i++) t.equal((await call(a!)).status, 200)
    for (let i = 0; i < 2; i++) t.equal((await call(b!, 'sync-job')).status, 403, 'denied calls are counted too')
    const inspect = redis.client()
    t.teardown(() => { inspect.disconnect() })
    await b!.broker.fleet!.usage!.flush()
    const [usageKey] = await redis.keys('*:tally')
    // Garbage, a pod without its marker, and a bad cell beside a real pod's marker.
    await inspect.hset(usageKey!, 'garbage', 'x,y', 'pod-x\u0000c\u0000i', '1,2,3', 'pod-1\u0000c\u0000i', '1,x')
    const admin = a!.callerToken('ops-alice', { roles: ['broker-admin'] })
    const res = await request(`${a!.url}/admin/usage?scope=fleet`, { headers: { authorization: `Bearer ${admin}` } })
    const body = (await res.body.json()) as {
      scope: string
      complete: boolean
      pods: Array<{ pod: string, last5m: number }>
      series: Array<{
        caller: string
        last5m: { requests: number, errors: number }
        byPod: Record<string, { last5m: number }>
      }>
    }
    t.equal(res.statusCode, 200)
    t.equal(body.scope, 'fleet')
    t.equal(body.complete, true)
    t.notOk(body.series.some((entry) => entry.caller === 'c'), 'no garbage field counted')
    t.same(body.pods.map((pod) => [pod.pod, pod.last5m]), [['pod-0', 3], ['pod-1', 2]], 'per pod')
    const report = body.series.find((entry) => entry.caller === 'report-job')
    const sync = body.series.find((entry) => entry.caller === 'other')
    t.equal(report?.last5m.requests, 3)
    t.same(report?.byPod, { 'pod-0': { last5m: 3, last1h: 3 } })
    t.equal(sync?.last5m.errors, 2, 'per caller (bounded labels: an unnamed caller is "other") and integration, from another pod')
    const local = await request(`${a!.url}/admin/usage`, { headers: { authorization: `Bearer ${admin}` } })
    t.equal(((await local.body.json()) as { series: unknown[] }).series.length, 1, 'without scope: this process only')
    const pools = async (scope: string): Promise<Array<{ policy: string, pod?: string }>> => {
      const answer = await request(`${b!.url}/admin/usage?scope=${scope}`, { headers: { authorization: `Bearer ${admin}` } })
      return ((await answer.body.json()) as { pools: Array<{ policy: string, pod?: string }> }).pools
    }
    t.same(await pools('pod'), [], 'pod-1 saw no pool itself')
    t.match(await pools('fleet'), [{ policy: 'global-app-quota', pod: 'pod-0' }], 'its fleet view has the pool pod-0 saw')
    const bad = await request(`${a!.url}/admin/usage?scope=galaxy`, { headers: { authorization: `Bearer ${admin}` } })
    t.equal(bad.statusCode, 400)
    await bad.body.dump()
  })

  onSingleNode('the ACL user of deploy/redis/users.acl is enough for every fleet feature', async (t) => {
    const rule = readFileSync(new URL('../../deploy/redis/users.acl', import.meta.url), 'utf8').split('\n').find((line) => line.startsWith('user '))!
    const password = 'acl-test-password-0123456789'
    const acl = rule.replace('#SHA256', `#${createHash('sha256').update(password).digest('hex')}`).replaceAll('PREFIX', 'acl-test')
    const dir = t.testdir({ 'users.acl': `${acl}\nuser default on nopass ~* &* +@all\n` })
    const redis = await RedisServer.start(t, { args: ['--aclfile', `${dir}/users.acl`] })
    const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }, { product: 'confluence', cloudId: WIKI_CLOUD_ID }] })
    fake.betaRateLimitHeaders = true
    const fleet = { redis: { url: redis.url, username: 'atlassian-broker', password, keyPrefix: 'acl-test' } }
    const integrations = { 'jira-main': { product: 'jira', cloudId: JIRA_CLOUD_ID, budget: { perSecond: 50 } }, 'wiki-main': { product: 'confluence', cloudId: WIKI_CLOUD_ID } }
    const policy = [
      { caller: 'report-job', integration: 'jira-main', methods: ['GET'], paths: ['/**'], maxConcurrent: 5, maxConcurrentScope: 'fleet', rateLimit: { perSecond: 50, scope: 'fleet' } },
      { caller: 'report-job', integration: 'wiki-main', methods: ['GET'], paths: ['/**'] }
    ]
    const [a, b] = [await startHarness(t, { fake, config: { callers: adminCallers, integrations, policy, fleet: { ...fleet, podName: 'acl-a' } } }), await startHarness(t, { fake, config: { integrations, policy, fleet: { ...fleet, podName: 'acl-b' } } })]
    await until(t, 'both connect with the ACL user', () => a.broker.fleet?.link.connected === true && b.broker.fleet?.link.connected === true)
    t.equal((await call(a)).status, 200)
    t.equal((await call(b)).status, 200)
    t.equal(fake.exchangesFor(CLIENT_ID), 1, 'shared token (GET, SET, EVAL), budget and fleet rate leases, fleet slots (EVAL, ZREM)')
    fake.setNextResponses((r) => r.endpoint === 'gateway', [rateLimited({ retryAfterSeconds: 60, reason: 'jira-quota-global-based' })])
    t.equal((await call(a)).status, 429)
    await until(t, 'the hold reaches acl-b (PUBLISH, SUBSCRIBE, EVAL PTTL SET)', () => b.broker.quotaHold.heldUntil('jira-main') !== undefined)
    a.broker.tokens.drop('wiki-main')
    const admin = a.callerToken('ops-alice', { roles: ['broker-admin'] })
    const usage = await request(`${a.url}/admin/usage?scope=fleet`, { headers: { authorization: `Bearer ${admin}` } })
    const view = (await usage.body.json()) as { complete: boolean, pools: Array<{ pod?: string }> }
    t.equal(view.complete, true, 'usage (MULTI HSET EXPIRE EXEC, HGETALL)')
    t.ok(view.pools.some((pool) => pool.pod !== undefined), 'points pools through Redis (EVAL TYPE HLEN HGETALL HSET EXPIRE)')
    t.equal(a.broker.fleet?.link.connected, true, 'no command was refused (a refusal would not degrade the link, but shows in the log)')
    t.equal((await call(b, 'report-job', '/rest/api/3/myself')).status, 429, 'held')
    t.notOk([...a.logs, ...b.logs].some((line) => line.includes('NOPERM') || line.includes('Redis refused')), 'no NOPERM anywhere, scripts included')
    const inspect = redis.client()
    t.teardown(() => { inspect.disconnect() })
    const denied = await inspect.call('ACL', 'DRYRUN', 'atlassian-broker', 'GET', 'other-prefix:x').catch((error: Error) => error.message)
    t.match(String(denied), /no permissions|not allowed|NOPERM|User atlassian-broker has no permissions/i, 'keys of another prefix are out of reach')
  })

  onSingleNode('another deployment\'s prefix is another fleet', async (t) => {
    const redis = await topology.fresh(t)
    const { fake, brokers: [a] } = await fleetOf(t, 1, redis, 'team-a')
    const other = await startHarness(t, { fake, config: { fleet: { redis: { ...redis.where(), keyPrefix: 'team-b' } } } })
    await until(t, 'team-b connects', () => other.broker.fleet?.link.connected === true)
    t.equal((await call(a!)).status, 200)
    t.equal((await call(other)).status, 200)
    t.equal(fake.exchangesFor(CLIENT_ID), 2, 'each deployment exchanges for itself')
  })

  t.test('a dropped token or a rotation on one sidecar reaches every sidecar', async (t) => {
    const redis = await topology.fresh(t)
    const { fake, brokers: [a, b] } = await fleetOf(t, 2, redis)
    t.equal((await call(a!)).status, 200)
    t.equal((await call(b!)).status, 200)
    t.equal(fake.exchangesFor(CLIENT_ID), 1)
    a!.broker.tokens.drop('jira-main')
    await until(t, 'pod-1 drops its token', () => !b!.broker.tokens.state('jira-main').cached)
    t.equal((await call(b!)).status, 200)
    t.equal((await call(a!)).status, 200)
    t.equal(fake.exchangesFor(CLIENT_ID), 2, 'one new exchange for the fleet after the drop')

    // Rotation: pod-0 writes a new version and adopts it (the harnesses of one test share one store file, like a shared
    // Vault).
    fake.setClientSecret(CLIENT_ID, 'rotated-secret-0123456789abcdef')
    const data = { client_id: CLIENT_ID, client_secret: 'rotated-secret-0123456789abcdef' }
    const { version } = await a!.store.put('jira-main', data)
    a!.broker.credentials.adopt((await a!.store.get('jira-main'))!)
    await until(t, 'pod-1 uses the new version', () => b!.broker.credentials.cachedVersion('jira-main') === version && !b!.broker.tokens.state('jira-main').cached)
    t.equal((await call(b!)).status, 200)
    t.equal(b!.broker.tokens.state('jira-main').secretVersion, version, 'pod-1 minted from the new version on its next call')
    t.equal((await call(a!)).status, 200)
    t.equal(fake.exchangesFor(CLIENT_ID), 3, 'one exchange for the fleet after the rotation')
  })

  t.test('the command line\'s rotation is announced to the fleet', async (t) => {
    const redis = await topology.fresh(t)
    const { fake, brokers: [a] } = await fleetOf(t, 1, redis)
    t.equal((await call(a!)).status, 200)
    fake.setClientSecret(CLIENT_ID, 'cli-rotated-secret-0123456789abcd')
    const { version } = await a!.store.put('jira-main', { client_id: CLIENT_ID, client_secret: 'cli-rotated-secret-0123456789abcd' })
    const fleet = parseConfig({ fleet: { redis: { ...redis.where(), keyPrefix: 'ab-test' } } }, 'test', {}).fleet!
    t.equal(await announceCredentialChange(fleet, { integration: 'jira-main', oldVersion: version - 1, newVersion: version }, 'cli:test'), true)
    await until(t, 'the sidecar re-reads the store', () => a!.broker.credentials.cachedVersion('jira-main') === version && !a!.broker.tokens.state('jira-main').cached)
    t.equal((await call(a!)).status, 200)
    t.equal(a!.broker.tokens.state('jira-main').secretVersion, version)
    const unreachable = parseConfig({ fleet: { redis: { url: 'redis://127.0.0.1:1', keyPrefix: 'ab-test' } } }, 'test', {}).fleet!
    t.equal(await announceCredentialChange(unreachable, { integration: 'jira-main', oldVersion: 1, newVersion: 2 }, 'cli:test'), false, 'no Redis: false, no throw')
  })

  onSingleNode('Redis stopped, paused or restarted: local behaviour, no failed call, rejoin', async (t) => {
    const redis = await RedisServer.start(t)
    const { fake, brokers: [a] } = await fleetOf(t, 1, redis)
    t.equal((await call(a!)).status, 200)
    await redis.stop()
    a!.broker.tokens.drop('jira-main', { fromFleet: true })
    t.equal((await call(a!)).status, 200, 'Redis down: the sidecar exchanges by itself')
    t.equal(fake.exchangesFor(CLIENT_ID), 2)
    const ready = await request(`${a!.url}/readyz`)
    const body = await ready.body.json() as { status: string, fleet: { connected: boolean } }
    t.equal(ready.statusCode, 200, 'still ready')
    t.equal(body.fleet.connected, false, 'the degraded state is in /readyz')
    t.match(await (await request(`${a!.url}/metrics`)).body.text(), /atlassian_broker_fleet_connected 0/)
    t.equal(a!.logs.filter((line) => line.includes('fleet: Redis unavailable')).length, 1, 'logged once')
    await redis.restart()
    await until(t, 'the sidecar rejoins', () => a!.broker.fleet?.link.connected === true, 8_000)
    t.match(await (await request(`${a!.url}/metrics`)).body.text(), /atlassian_broker_fleet_connected 1/)

    redis.pause()
    a!.broker.tokens.drop('jira-main', { fromFleet: true })
    t.equal((await call(a!)).status, 200, 'Redis paused: the command times out and the sidecar exchanges by itself')
    t.equal(a!.broker.fleet?.link.connected, false)
    redis.resume()
    await until(t, 'the sidecar rejoins after the pause', () => a!.broker.fleet?.link.connected === true, 8_000)
  })
}
