/**
 * Sentinels that require a password (`requirepass` in their config, test/helpers/redis-sentinel.ts): the one client
 * builder (src/fleet/redis-options.ts) reaches the primary through them with `fleet.redis.sentinel.password` or
 * `.passwordFile` (and `.username`), and without it the sentinels refuse, so no primary is found.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parseConfig } from '../../src/config/load.js'
import type { FleetConfig } from '../../src/config/schema.js'
import { createRedisClient } from '../../src/fleet/redis-options.js'
import { findRedisServer } from '../helpers/redis-server.js'
import { RedisSentinel } from '../helpers/redis-sentinel.js'

const skip = findRedisServer() === undefined ? 'redis-server is not installed (.ci/run installs it)' : false
const PASSWORD = 'sentinel-secret-4711'

function redisConfig (sentinel: Record<string, unknown>): FleetConfig['redis'] {
  return parseConfig({
    dataDir: '/nonexistent-data-dir',
    callers: { jwt: { audience: 'a', hs256Secret: 'x'.repeat(32) } },
    integrations: {},
    policy: [],
    fleet: { redis: { keyPrefix: 'sentinel-auth', connectTimeoutMs: 2_000, sentinel } }
  }, 'test config', {}).fleet!.redis
}

async function ping (redis: FleetConfig['redis']): Promise<string> {
  const client = createRedisClient(redis, 'once')
  client.on('error', () => {})
  try {
    await client.connect()
    return await client.ping()
  } catch (error) {
    return `failed: ${(error as Error).message}`
  } finally {
    client.disconnect()
  }
}

t.test('sentinels that require a password', { skip }, async (t) => {
  const setup = await RedisSentinel.start(t, { password: PASSWORD })
  const { nodes, masterName } = (setup.where() as { sentinel: { nodes: string[], masterName: string } }).sentinel

  t.equal(await ping(redisConfig({ nodes, masterName, password: PASSWORD })), 'PONG', 'sentinel.password')
  const file = join(t.testdir({}), 'sentinel-password')
  writeFileSync(file, `${PASSWORD}\n`)
  t.equal(await ping(redisConfig({ nodes, masterName, passwordFile: file })), 'PONG', 'sentinel.passwordFile')

  t.equal(await ping(redisConfig({ nodes, masterName, username: 'default', password: PASSWORD })), 'PONG',
    'sentinel.username: the ACL user the password belongs to')
  t.match(await ping(redisConfig({ nodes, masterName, username: 'nobody', password: PASSWORD })), /^failed: /,
    'another user with that password is refused: the username is sent')
  const without = await ping(redisConfig({ nodes, masterName }))
  t.match(without, /^failed: /, 'without the password no sentinel names the primary')
  t.notMatch(without, PASSWORD, 'the failure does not carry the password')

  t.throws(() => redisConfig({ nodes, masterName, password: PASSWORD, passwordFile: file }), /password or passwordFile/,
    'password and passwordFile together are refused')
})
