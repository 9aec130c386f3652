/**
 * Fleet mode on a real Redis Cluster (three primaries, three replicas: test/helpers/redis-cluster.ts): the fleet
 * scenarios and limit scenarios that the single node runs (one exchange, holds, usage, rotation events, budgets, fair
 * share, fleet rates), then a primary killed under load: its replica takes over and no proxied call fails.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import t from 'tap'
import { request } from 'undici'
import { CLIENT_ID, JIRA_CLOUD_ID, startHarness } from '../helpers/broker-harness.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'
import { findRedisCli, RedisCluster } from '../helpers/redis-cluster.js'
import { findRedisServer } from '../helpers/redis-server.js'
import { failover } from './failover-scenario.js'
import { fleetLimitScenarios } from './fleet-limit-scenarios.js'
import { fleetScenarios } from './fleet-scenarios.js'

const skip = findRedisServer() === undefined || !findRedisCli() ? 'redis-server or redis-cli is not installed (.ci/run installs them)' : false

t.test('fleet mode on Redis Cluster', { skip }, async (t) => {
  const topology = RedisCluster.topology(t)
  t.test('the fleet scenarios', async (t) => { await fleetScenarios(t, topology) })
  t.test('the fleet limit scenarios', async (t) => { await fleetLimitScenarios(t, topology) })
  t.test('the ACL user of deploy/redis/users.acl, loaded on every node, is enough on a cluster', async (t) => {
    const cluster = await topology.fresh(t) as RedisCluster
    const rule = readFileSync(new URL('../../deploy/redis/users.acl', import.meta.url), 'utf8').split('\n').find((line) => line.startsWith('user '))!
    const password = 'acl-cluster-password-0123456789'
    const rules = rule.replace('#SHA256', `#${createHash('sha256').update(password).digest('hex')}`).replaceAll('PREFIX', 'acl-cluster').split(' ').slice(2)
    for (const node of cluster.nodes) {
      const admin = node.client()
      await admin.call('ACL', 'SETUSER', 'atlassian-broker', ...rules)
      admin.disconnect()
    }
    const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }] })
    const fleet = { redis: { ...cluster.where(), username: 'atlassian-broker', password, keyPrefix: 'acl-cluster' } }
    const brokers = [
      await startHarness(t, { fake, config: { fleet: { ...fleet, podName: 'acl-a' } } }),
      await startHarness(t, { fake, config: { fleet: { ...fleet, podName: 'acl-b' } } })
    ]
    for (const h of brokers) {
      for (let tries = 0; tries < 500 && h.broker.fleet?.link.connected !== true; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    }
    t.same(brokers.map((h) => h.broker.fleet?.link.connected), [true, true], 'both connect as the ACL user (CLUSTER SLOTS allowed)')
    for (const h of brokers) {
      const res = await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: { authorization: `Bearer ${h.callerToken('report-job')}` } })
      await res.body.dump()
      t.equal(res.statusCode, 200)
    }
    t.equal(fake.exchangesFor(CLIENT_ID), 1, 'one exchange: the token shared through the cluster')
    t.notOk(brokers.flatMap((h) => h.logs).some((line) => line.includes('NOPERM') || line.includes('Redis refused')), 'no NOPERM')
  })
  t.test('a primary killed and failed over to its replica: no failed call, and the fleet shares again', async (t) => {
    await failover(t, topology, async (cluster) => { await (cluster as RedisCluster).killPrimaryOf('failover:{failover:jira-main}:token:v1') })
  })
})
