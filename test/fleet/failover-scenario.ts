/** A primary killed under load (fleet-cluster.test.ts, fleet-sentinel.test.ts): no proxied call fails. */
import type { Test } from 'tap'
import { request } from 'undici'
import { CLIENT_ID, JIRA_CLOUD_ID, startHarness, type Harness } from '../helpers/broker-harness.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'
import type { Topology } from '../helpers/redis-topology.js'
import { FleetKeys } from '../../src/fleet/keys.js'

/** Two sidecars calling without pause while `kill` takes the primary away; every call must answer 200. Run on Redis
 * Cluster (fleet-cluster.test.ts) and Sentinel (fleet-sentinel.test.ts). */
export async function failover (
  t: Test,
  topology: Topology,
  kill: (redis: Awaited<ReturnType<Topology['fresh']>>) => Promise<unknown>
): Promise<void> {
  const redis = await topology.fresh(t)
  const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }] })
  const brokers: Harness[] = []
  for (const pod of ['pod-a', 'pod-b']) {
    const h = await startHarness(t, { fake, config: { fleet: { redis: { ...redis.where(), keyPrefix: 'failover' }, podName: pod } } })
    await until(() => h.broker.fleet?.link.connected === true)
    brokers.push(h)
  }
  const [a, b] = brokers as [Harness, Harness]
  const call = async (h: Harness): Promise<number> => {
    const res = await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: { authorization: `Bearer ${h.callerToken('report-job')}` } })
    await res.body.dump()
    return res.statusCode
  }
  t.same([await call(a), await call(b)], [200, 200])
  t.equal(fake.exchangesFor(CLIENT_ID), 1, 'one exchange for both before the failover')

  const statuses: number[] = []
  let running = true
  const loops = brokers.map(async (h) => {
    while (running) {
      statuses.push(await call(h))
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  })
  const linkStates = (): string => JSON.stringify(brokers.map((h) => h.broker.fleet?.link.state()))
  try {
    await kill(redis)
    // Both links back on the promoted primary, then a few more calls on each.
    await until(() => brokers.every((h) => h.broker.fleet?.link.connected === true), 20_000, () => `links: ${linkStates()}`)
    const after = statuses.length
    await until(() => statuses.length >= after + 20, 10_000, () => `${statuses.length - after} calls since`)
  } finally {
    // Stopped even when a wait failed: a loop left calling a closed broker ends the file on an unhandled rejection.
    running = false
    await Promise.allSettled(loops)
  }
  await Promise.all(loops)
  t.ok(statuses.length > 20, `${statuses.length} calls during the failover`)
  t.same(new Set(statuses), new Set([200]), 'every call answered 200')
  t.same(brokers.map((h) => h.broker.fleet?.link.connected), [true, true], 'both sidecars reconnected')

  // The fleet shares again: a drop on one reaches the other, and the fleet makes one exchange, not two.
  const exchanges = fake.exchangesFor(CLIENT_ID)
  // Fleet events are pub/sub, kept by nobody: a drop published before b's subscriber is back on the new primary
  // would be lost (the command link reconnects first). Wait for both subscriptions, counted by Redis itself.
  const channel = new FleetKeys('failover').events
  await untilAsync(async () => await redis.subscribers(channel) >= 2, 20_000, () => `subscribers on ${channel}`)
  a.broker.tokens.drop('jira-main')
  await until(() => !b.broker.tokens.state('jira-main').cached)
  t.equal(await call(a), 200)
  t.equal(await call(b), 200)
  t.equal(fake.exchangesFor(CLIENT_ID), exchanges + 1, 'one exchange for the fleet after the failover')
}

async function until (check: () => boolean, timeoutMs = 10_000, what = (): string => ''): Promise<void> {
  await untilAsync(check, timeoutMs, what)
}

async function untilAsync (
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: () => string
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting ${what()}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
