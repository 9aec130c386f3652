/**
 * Fleet timers read the injected clock: a Redis that stops answering (SIGSTOP) is found slow when the manual clock
 * passes `commandTimeoutMs`, and found back by the PING probe when it passes the probe's second; a sidecar waiting on
 * another's exchange lock polls when the clock says. No wall-time wait for any of them (the test only waits for real
 * I/O to arrive).
 */
import t from 'tap'
import { FleetKeys } from '../../src/fleet/keys.js'
import { RedisLink } from '../../src/fleet/redis-link.js'
import { SharedTokens } from '../../src/fleet/shared-tokens.js'
import { FleetKeyring } from '../../src/fleet/token-crypto.js'
import { FleetRejections } from '../../src/fleet/fleet-metrics.js'
import { createLogger } from '../../src/logger.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { findRedisServer, RedisServer } from '../helpers/redis-server.js'

const skip = findRedisServer() === undefined ? 'redis-server is not installed (.ci/run installs it)' : false

async function until (check: () => boolean): Promise<boolean> {
  for (let tries = 0; tries < 250 && !check(); tries++) await new Promise((resolve) => setTimeout(resolve, 20))
  return check()
}

t.test('a slow Redis: the command deadline runs on real time, the PING probe on the injected clock', { skip }, async (t) => {
  const redis = await RedisServer.start(t)
  const clock = new ManualClock()
  const config = { url: redis.url, keyPrefix: 'link', commandTimeoutMs: 100, connectTimeoutMs: 2_000 }
  const link = new RedisLink(config, createLogger({ level: 'silent' }), clock)
  t.teardown(async () => { redis.resume(); await link.close() })
  link.start()
  t.equal(await until(() => link.connected), true, 'connected')

  // A manual clock moved by minutes while Redis answers at once times nothing out: the deadline is a round trip's.
  const moved = link.run(async (client) => await client.ping())
  await clock.advance(60_000)
  t.equal(await moved, 'PONG', 'moving the injected clock does not time a command out')
  t.equal(link.connected, true)

  redis.pause()
  t.equal(await link.run(async (client) => await client.ping()), undefined, 'past commandTimeoutMs: no answer, never a throw')
  t.same(link.state(), { connected: false, detail: 'degraded: command timed out after 100 ms' }, 'degraded, with the reason')

  redis.resume()
  await clock.advance(999)
  t.equal(link.connected, false, 'the probe waits its second on the clock')
  await clock.advance(1)
  t.equal(await until(() => link.connected), true, 'the probe\'s PING finds Redis back')
})

t.test('a sidecar waiting on another\'s exchange lock polls on the injected clock', { skip }, async (t) => {
  const redis = await RedisServer.start(t)
  const clock = new ManualClock()
  const config = { url: redis.url, keyPrefix: 'link', commandTimeoutMs: 1_000, connectTimeoutMs: 2_000 }
  const link = new RedisLink(config, createLogger({ level: 'silent' }), clock)
  t.teardown(async () => { await link.close() })
  link.start()
  t.equal(await until(() => link.connected), true, 'connected')
  const keys = new FleetKeys('link')
  const tokens = new SharedTokens({ link, keys, clock, lockMs: 5_000, keyring: new FleetKeyring(), rejections: new FleetRejections({ logger: createLogger({ level: 'silent' }), clock }), onDropped: () => {} })
  const inspect = redis.client()
  t.teardown(() => { inspect.disconnect() })
  await inspect.set(keys.exchangeLock('jira-main'), 'another-pod')
  let mints = 0
  const now = clock.now()
  const token = { authorization: 'Bearer minted', secretVersion: 1, expiresAt: now + 3_600_000, usableUntil: now + 3_540_000, refreshAt: now + 3_000_000 }
  const secret = { data: { client_id: 'id', client_secret: 'secret' }, version: 1 }
  const obtained = tokens.obtain('jira-main', secret, async () => { mints++; return token })
  t.equal(await until(() => clock.pendingTimers === 1), true, 'the poll waits on the clock')
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(mints, 0, 'the lock is held elsewhere: no exchange here')
  await inspect.del(keys.exchangeLock('jira-main'))
  await clock.advance(25)
  t.same(await obtained, token, 'the next poll (25 ms on the clock) takes the freed lock and exchanges')
  t.equal(mints, 1, 'one exchange')
})
