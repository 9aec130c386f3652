/**
 * Ten real broker processes (`atlassian-broker serve`) against one fake Atlassian and one real redis-server: a cold
 * fleet makes one exchange, a quota hold seen by one sidecar holds all of them, a dropped token and a rotation reach
 * every sidecar, and killing and restarting Redis under load fails no request. Redis is then scanned for secret bytes.
 */
import type { ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { createSigner } from 'fast-jwt'
import t, { type Test } from 'tap'
import { Agent, request } from 'undici'
import { createLogger } from '../../src/logger.js'
import { createFileStore } from '../../src/secrets/file/file-store.js'
import { CALLER_SECRET, CLIENT_ID, CLIENT_SECRET, JIRA_CLOUD_ID, MASTER_KEY, WIKI_CLOUD_ID } from '../helpers/broker-harness.js'
import { cliEnv, startCli, waitForLine } from '../helpers/cli.js'
import { FakeAtlassian, rateLimited } from '../helpers/fake-atlassian.js'
import { findRedisServer, RedisServer } from '../helpers/redis-server.js'

const SIDECARS = 10
const COLD_CONCURRENCY = 100
const BUDGET = 40
const ROTATED_SECRET = 'rotated-client-secret-0123456789ab'

// Without the binary the test is skipped (counted as such), never passed.
const noRedis = findRedisServer() === undefined ? 'redis-server is not installed (.ci/run installs it)' : false
t.test('ten sidecars act as one broker', { timeout: 120_000, skip: noRedis }, async (t) => { await fleet(t) })

const sign = createSigner({ key: CALLER_SECRET, algorithm: 'HS256' })
const token = (sub: string, roles: string[] = []): string => sign({ sub, aud: 'atlassian-broker', roles, exp: Math.floor(Date.now() / 1000) + 3600 })
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

async function fleet (t: Test): Promise<void> {
  const redis = await RedisServer.start(t)
  const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }, { product: 'confluence', cloudId: WIKI_CLOUD_ID }] })
  fake.addClient(CLIENT_ID, CLIENT_SECRET)
  const dir = t.testdir({})
  const store = await createFileStore({ path: `${dir}/secrets.enc`, masterKey: MASTER_KEY, logger: createLogger({ level: 'silent' }) })
  await store.put('jira-main', { client_id: CLIENT_ID, client_secret: CLIENT_SECRET })
  await store.put('wiki-main', { client_id: CLIENT_ID, client_secret: CLIENT_SECRET })
  await store.put('jira-budget', { client_id: CLIENT_ID, client_secret: CLIENT_SECRET })
  await store.close()
  writeFileSync(`${dir}/config.yaml`, JSON.stringify({
    listen: { host: '127.0.0.1', port: 0 },
    dataDir: dir,
    callers: { jwt: { audience: 'atlassian-broker', hs256Secret: CALLER_SECRET }, admin: { role: 'broker-admin' } },
    atlassian: { tokenUrl: fake.tokenUrl, apiUrl: fake.url },
    integrations: {
      'jira-main': { product: 'jira', cloudId: JIRA_CLOUD_ID },
      'wiki-main': { product: 'confluence', cloudId: WIKI_CLOUD_ID },
      'jira-budget': { product: 'jira', cloudId: JIRA_CLOUD_ID, budget: { perSecond: BUDGET, burst: 10 } }
    },
    policy: [{ caller: '*', integration: '*', methods: ['GET'], paths: ['/**'] }],
    secrets: { store: 'file', file: { path: `${dir}/secrets.enc` } },
    fleet: { redis: { url: redis.url, keyPrefix: 'fleet-test' } },
    // A cold herd of 100 concurrent calls by one caller: above the default per-caller share (32).
    limits: { callerMaxConcurrent: 1_000 },
    logging: { level: 'info' }
  }))

  const children: ChildProcess[] = []
  t.teardown(() => { for (const child of children) child.kill('SIGKILL') })
  const urls = await Promise.all(Array.from({ length: SIDECARS }, async () => {
    const child = startCli(['serve', '--config', `${dir}/config.yaml`], { cwd: dir, env: cliEnv({ BROKER_MASTER_KEY: MASTER_KEY }) })
    children.push(child)
    const line = await waitForLine(child, /atlassian-broker listening on/, 60_000)
    return (JSON.parse(line) as { url: string }).url
  }))
  const agent = new Agent({ connections: COLD_CONCURRENCY })
  t.teardown(() => agent.close())
  const get = async (url: string, path: string, auth = token('report-job')): Promise<{ status: number, code?: string, retryAfter?: string, body: string }> => {
    const res = await request(`${url}${path}`, { headers: { authorization: `Bearer ${auth}` }, dispatcher: agent })
    const body = await res.body.text()
    const code = res.statusCode >= 400 && body.startsWith('{') ? (JSON.parse(body) as { code?: string }).code : undefined
    return { status: res.statusCode, ...(code === undefined ? {} : { code }), ...(typeof res.headers['retry-after'] === 'string' ? { retryAfter: res.headers['retry-after'] } : {}), body }
  }
  const fleetConnected = async (): Promise<boolean[]> => await Promise.all(urls.map(async (url) => (JSON.parse((await get(url, '/readyz')).body) as { fleet: { connected: boolean } }).fleet.connected))
  const waitConnected = async (): Promise<void> => {
    for (let tries = 0; tries < 200 && (await fleetConnected()).includes(false); tries++) await sleep(50)
  }
  await waitConnected()
  t.same(new Set(await fleetConnected()), new Set([true]), 'every sidecar is connected to Redis')

  // Item 2: a cold fleet, many concurrent calls on every sidecar, one exchange.
  const cold = await Promise.all(urls.flatMap((url) => Array.from({ length: COLD_CONCURRENCY }, async () => (await get(url, '/proxy/jira-main/rest/api/3/myself')).status)))
  t.equal(cold.filter((status) => status === 200).length, SIDECARS * COLD_CONCURRENCY, `${SIDECARS} x ${COLD_CONCURRENCY} cold calls all succeed`)
  t.equal(fake.exchangesFor(CLIENT_ID), 1, `exactly one exchange for the whole fleet (${fake.exchangesFor(CLIENT_ID)})`)

  // Item 3: a quota 429 on sidecar 0 holds wiki-main on every sidecar, within a second, without reaching Atlassian.
  t.equal((await get(urls[0]!, '/proxy/wiki-main/wiki/rest/api/user/current')).status, 200, 'wiki-main warm (its own exchange)')
  fake.setNextResponses((r) => r.endpoint === 'gateway', [rateLimited({ retryAfterSeconds: 600, reason: 'confluence-quota-global-based' })])
  t.equal((await get(urls[0]!, '/proxy/wiki-main/wiki/rest/api/user/current')).status, 429, 'sidecar 0 meets the quota 429')
  await sleep(1_000)
  const hits = fake.requests.filter((r) => r.endpoint === 'gateway' && r.product === 'confluence').length
  const held = await Promise.all(urls.map(async (url) => await get(url, '/proxy/wiki-main/wiki/rest/api/user/current')))
  t.same(new Set(held.map((answer) => answer.code)), new Set(['BROKER_ERR_UPSTREAM_RATE_LIMITED']), 'every sidecar answers 429 itself one second later')
  t.ok(held.every((answer) => Number(answer.retryAfter) > 590 && Number(answer.retryAfter) <= 600), 'with the remaining Retry-After')
  t.equal(fake.requests.filter((r) => r.endpoint === 'gateway' && r.product === 'confluence').length, hits, '0 requests reached Atlassian during the hold')
  t.equal((await get(urls[5]!, '/proxy/jira-main/rest/api/3/myself')).status, 200, 'other integrations are not held')

  // Item 4: a budget of BUDGET/s over 10 s across 10 sidecars: a greedy caller on every sidecar, a light one on two.
  const counts = new Map<string, { ok: number, refused: number, other: number }>()
  const perSecond = new Map<number, number>()
  let budgetRunning = true
  const startedAt = Date.now()
  const caller = async (name: string, url: string, gapMs: number): Promise<void> => {
    const auth = token(name)
    const tally = counts.get(name) ?? { ok: 0, refused: 0, other: 0 }
    counts.set(name, tally)
    while (budgetRunning) {
      const { status } = await get(url, '/proxy/jira-budget/rest/api/3/myself', auth)
      if (status === 200) {
        tally.ok++
        const second = Math.floor((Date.now() - startedAt) / 1000)
        perSecond.set(second, (perSecond.get(second) ?? 0) + 1)
      } else if (status === 429) tally.refused++
      else tally.other++
      await sleep(status === 200 ? gapMs : 20)
    }
  }
  const budgetLoad = [...urls.map(async (url) => { await caller('greedy-job', url, 0) }), caller('light-job', urls[1]!, 200), caller('light-job', urls[6]!, 200)]
  await sleep(10_000)
  budgetRunning = false
  await Promise.all(budgetLoad)
  const elapsed = (Date.now() - startedAt) / 1000
  const greedy = counts.get('greedy-job')!
  const light = counts.get('light-job')!
  const admitted = greedy.ok + light.ok
  t.comment(`budget ${BUDGET}/s: admitted per second ${JSON.stringify([...perSecond.entries()].sort((x, y) => x[0] - y[0]).map(([, n]) => n))}; greedy ${greedy.ok}/${greedy.ok + greedy.refused}, light ${light.ok}/${light.ok + light.refused}`)
  t.equal(greedy.other + light.other, 0, 'only 200s and 429s')
  t.ok(Math.abs(admitted - BUDGET * elapsed) <= BUDGET * elapsed * 0.1 + 20, `${admitted} admitted in ${elapsed} s: within 10% of ${BUDGET}/s (+ the initial bursts)`)
  // Fairness, measured against the greedy caller rather than the clock: a loaded machine shifts both rates alike.
  const rate = (tally: { ok: number, refused: number }): number => tally.ok / Math.max(1, tally.ok + tally.refused)
  t.ok(rate(light) >= 0.8, `the light caller is not starved: ${light.ok} of ${light.ok + light.refused}`)
  t.ok(rate(light) >= 2 * rate(greedy), `its calls get through far more often than the greedy caller's (${rate(light).toFixed(2)} vs ${rate(greedy).toFixed(2)})`)
  t.ok(greedy.refused > 0, 'the greedy caller is held to its share')

  // Item 5: DELETE .../token on sidecar 3 reaches all sidecars; the fleet then exchanges once.
  const admin = token('ops-alice', ['broker-admin'])
  const exchangesBefore = fake.exchangesFor(CLIENT_ID)
  const dropped = await request(`${urls[3]!}/admin/integrations/jira-main/token`, { method: 'DELETE', headers: { authorization: `Bearer ${admin}` }, dispatcher: agent })
  t.equal(dropped.statusCode, 200)
  await dropped.body.dump()
  await sleep(1_000)
  const states = await Promise.all(urls.map(async (url) => (JSON.parse((await get(url, '/admin/integrations/jira-main', admin)).body) as { accessToken: { cached: boolean } }).accessToken.cached))
  t.same(new Set(states), new Set([false]), 'one second later no sidecar holds the dropped token')
  const afterDrop = await Promise.all(urls.map(async (url) => (await get(url, '/proxy/jira-main/rest/api/3/myself')).status))
  t.same(new Set(afterDrop), new Set([200]))
  t.equal(fake.exchangesFor(CLIENT_ID), exchangesBefore + 1, 'one exchange for the fleet after the drop')

  // Item 5: a rotation through sidecar 7's admin API; every sidecar uses the new version on its next call.
  fake.setClientSecret(CLIENT_ID, ROTATED_SECRET)
  const rotated = await request(`${urls[7]!}/admin/integrations/jira-main/rotate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ credential: { client_id: CLIENT_ID, client_secret: ROTATED_SECRET } }),
    dispatcher: agent
  })
  const rotation = await rotated.body.json() as { newVersion: number }
  t.equal(rotated.statusCode, 200, 'rotated (verified at the token endpoint)')
  await sleep(1_000)
  t.same(new Set(await Promise.all(urls.map(async (url) => (await get(url, '/proxy/jira-main/rest/api/3/myself')).status))), new Set([200]))
  const versions = await Promise.all(urls.map(async (url) => (JSON.parse((await get(url, '/admin/integrations/jira-main', admin)).body) as { accessToken: { secretVersion: number | null } }).accessToken.secretVersion))
  t.same(new Set(versions), new Set([rotation.newVersion]), `every sidecar's token comes from version ${rotation.newVersion}`)

  // Item 7: Redis killed and restarted under load: no failed request; a token dropped meanwhile is exchanged locally.
  let running = true
  const outcomes = { ok: 0, failed: 0 }
  const load = urls.map(async (url) => {
    while (running) {
      const { status } = await get(url, '/proxy/jira-main/rest/api/3/myself').catch(() => ({ status: 0 }))
      if (status === 200) outcomes.ok++
      else outcomes.failed++
    }
  })
  await sleep(300)
  await redis.stop()
  await sleep(300)
  const down = await get(urls[2]!, '/readyz')
  t.equal(down.status, 200, 'ready while Redis is down')
  t.match(down.body, /"connected":false/, 'the degraded state is in /readyz')
  t.match((await get(urls[2]!, '/metrics')).body, /atlassian_broker_fleet_connected 0/)
  const localDrop = await request(`${urls[4]!}/admin/integrations/jira-main/token`, { method: 'DELETE', headers: { authorization: `Bearer ${admin}` }, dispatcher: agent })
  await localDrop.body.dump()
  await sleep(300)
  await redis.restart()
  await waitConnected()
  running = false
  await Promise.all(load)
  t.equal(outcomes.failed, 0, `0 failed requests of ${outcomes.ok + outcomes.failed} while Redis was killed and restarted`)
  t.ok(outcomes.ok > SIDECARS, 'the load kept flowing')
  t.same(new Set(await fleetConnected()), new Set([true]), 'every sidecar rejoined by itself')
  t.match((await get(urls[2]!, '/metrics')).body, /atlassian_broker_fleet_connected 1/)

  // No Redis key or value holds a token or a secret (Redis was restarted empty: fill it again first).
  await get(urls[0]!, '/admin/integrations/jira-main', admin)
  const refill = await request(`${urls[0]!}/admin/integrations/jira-main/token`, { method: 'DELETE', headers: { authorization: `Bearer ${admin}` }, dispatcher: agent })
  await refill.body.dump()
  await sleep(500)
  t.equal((await get(urls[1]!, '/proxy/jira-main/rest/api/3/myself')).status, 200)
  const inspect = redis.client()
  t.teardown(() => { inspect.disconnect() })
  const keys = await inspect.keys('*')
  t.ok(keys.some((key) => key.includes(':token:v')), 'a shared token entry is there to scan')
  const secrets = [...fake.tokensOf(CLIENT_ID), CLIENT_SECRET, ROTATED_SECRET, CALLER_SECRET]
  let leaks = 0
  for (const key of keys) {
    const value = await inspect.dumpBuffer(key)
    const haystack = `${key}\n${value?.toString('latin1') ?? ''}`
    for (const secret of secrets) if (haystack.includes(secret) || haystack.includes(Buffer.from(secret).toString('base64'))) leaks++
  }
  t.equal(leaks, 0, `no token or secret bytes in ${keys.length} Redis keys`)
}
