/**
 * Fleet mode on a real Redis Cluster (three primaries, three replicas: test/helpers/redis-cluster.ts): the fleet
 * scenarios and limit scenarios that the single node runs (one exchange, holds, usage, rotation events, budgets, fair
 * share, fleet rates), then a primary killed under load: its replica takes over and no proxied call fails.
 */
import t from 'tap'
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
  t.test('a primary killed and failed over to its replica: no failed call, and the fleet shares again', async (t) => {
    await failover(t, topology, async (cluster) => { await (cluster as RedisCluster).killPrimaryOf('failover:{failover:jira-main}:token:v1') })
  })
})
