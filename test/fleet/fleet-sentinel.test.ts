/**
 * Fleet mode through Redis Sentinel (test/helpers/redis-sentinel.ts): the sidecars find the primary through the
 * sentinels, share one token, and follow a failover (the primary killed, its replica promoted) without a failed call.
 */
import t from 'tap'
import { findRedisServer } from '../helpers/redis-server.js'
import { RedisSentinel } from '../helpers/redis-sentinel.js'
import { failover } from './failover-scenario.js'

const skip = findRedisServer() === undefined ? 'redis-server is not installed (.ci/run installs it)' : false

t.test('fleet mode through Redis Sentinel: a primary killed, its replica promoted, no failed call', { skip }, async (t) => {
  await failover(t, RedisSentinel.topology(), async (setup) => { await (setup as RedisSentinel).killPrimary() })
})
