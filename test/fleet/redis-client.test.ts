/**
 * Where Redis is (fleet.redis: url, cluster or sentinel) and the client built for it (createRedisClient in
 * src/fleet/redis-options.ts): exactly one topology is accepted; a cluster gets ioredis's Cluster with the seed
 * nodes, the ACL user and TLS on every node; a sentinel setup gets the sentinels and the master name, TLS on both.
 * The real connections are tested in fleet-cluster.test.ts and fleet-sentinel.test.ts.
 */
import t from 'tap'
import { Cluster, Redis } from 'ioredis'
import { parseConfig } from '../../src/config/load.js'
import type { FleetConfig } from '../../src/config/schema.js'
import { createRedisClient } from '../../src/fleet/redis-options.js'

function redisConfig (redis: Record<string, unknown>): FleetConfig['redis'] {
  return parseConfig({ fleet: { redis } }, 'test', {}).fleet!.redis
}

t.test('exactly one of url, cluster and sentinel', async (t) => {
  const refused = (redis: Record<string, unknown>): string => {
    try { redisConfig(redis); return 'accepted' } catch (error) { return String((error as Error).message) }
  }
  t.match(refused({}), /exactly one of url, cluster/)
  t.match(refused({ url: 'redis://a:6379', cluster: { nodes: ['redis://b:6379'] } }), /exactly one of url, cluster/)
  t.match(refused({ sentinel: { nodes: ['redis://s:26379'], masterName: 'm' } }), /host:port/)
  t.match(refused({ cluster: { nodes: [] } }), /cluster/)
  // Regression: a seed's credentials were dropped silently (only host and port reach the client), so AUTH failed.
  const withCredentials = refused({ cluster: { nodes: ['rediss://broker:s3cret-pw@node-a.example:7000'] } })
  t.match(withCredentials, /without credentials \(give them in fleet\.redis\.username and password or passwordFile\)/)
  t.notMatch(withCredentials, /s3cret-pw/, 'the password is not echoed')
  t.equal(refused({ cluster: { nodes: ['redis://node-a.example:7000', 'rediss://node-b.example/'] } }), 'accepted')
  t.equal(refused({ sentinel: { nodes: ['s1:26379', 's2:26379'], masterName: 'mymaster' } }), 'accepted')
})

t.test('a cluster: ioredis\'s Cluster on the seed nodes, the ACL user and TLS on every node', async (t) => {
  const client = createRedisClient(redisConfig({
    cluster: { nodes: ['rediss://node-a.example:7000', 'rediss://node-b.example'] },
    username: 'atlassian-broker',
    password: 'cluster-password-0123456789'
  }), 'link', { enableOfflineQueue: false })
  t.teardown(() => { client.disconnect() })
  t.ok(client instanceof Cluster)
  const cluster = client as Cluster
  t.same((cluster as unknown as { startupNodes: unknown }).startupNodes, [{ host: 'node-a.example', port: 7000 }, { host: 'node-b.example', port: 6379 }])
  t.equal(cluster.options.redisOptions?.username, 'atlassian-broker')
  t.ok(cluster.options.redisOptions?.tls, 'rediss:// seeds: TLS to every node')
  t.equal(cluster.options.enableOfflineQueue, false)
  t.equal(cluster.options.clusterRetryStrategy?.(50), 2_000, 'reconnects forever, at most every 2 s')
  const resolved = await new Promise((resolve) => { cluster.options.dnsLookup?.('node-c.example', (_error: unknown, address: string) => { resolve(address) }) })
  t.equal(resolved, 'node-c.example', 'host names reach TLS unresolved, so the certificate\'s name is checked')

  const once = createRedisClient(redisConfig({ cluster: { nodes: ['redis://127.0.0.1:7000'] } }), 'once') as Cluster
  t.teardown(() => { once.disconnect() })
  t.equal(once.options.clusterRetryStrategy?.(1), null, 'the command line tries once')
  t.equal(once.options.redisOptions?.tls, undefined, 'no TLS without rediss:// or tls')
})

t.test('sentinels: the master name and the sentinels\' addresses, TLS to both when configured', async (t) => {
  const link = createRedisClient(redisConfig({
    sentinel: { nodes: ['sentinel-0:26379', '10.0.0.2:26380'], masterName: 'mymaster' },
    tls: { serverName: 'redis.internal' }
  }), 'link') as Redis
  t.teardown(() => { link.disconnect() })
  t.ok(link instanceof Redis)
  t.same(link.options.sentinels, [{ host: 'sentinel-0', port: 26379 }, { host: '10.0.0.2', port: 26380 }])
  t.equal(link.options.name, 'mymaster')
  t.equal(link.options.failoverDetector, true, 'listens for +switch-master')
  t.equal(link.options.enableTLSForSentinelMode, true)
  t.equal(link.options.sentinelTLS?.servername, 'redis.internal')
  t.equal(link.options.sentinelRetryStrategy?.(3), 300)

  const once = createRedisClient(redisConfig({ sentinel: { nodes: ['127.0.0.1:26379'], masterName: 'mymaster' } }), 'once') as Redis
  t.teardown(() => { once.disconnect() })
  t.equal(once.options.sentinelRetryStrategy?.(1), null)
  t.equal(once.options.failoverDetector, false)
  t.notOk(once.options.enableTLSForSentinelMode, 'no TLS unless configured')
})
