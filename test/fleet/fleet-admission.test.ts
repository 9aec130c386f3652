/**
 * Admission's fleet backend on a real redis-server. With Redis gone it means exactly what the local backend means
 * (the same table of cases as test/limits/admission.test.ts: one budget bucket per integration, not one per caller);
 * with Redis up, a `maxConcurrentScope: fleet` call holds exactly one slot, in Redis, and none locally.
 */
import t, { type Test } from 'tap'
import { systemClock } from '../../src/clock.js'
import { FleetAdmission } from '../../src/fleet/fleet-admission.js'
import { FleetLimits } from '../../src/fleet/fleet-limits.js'
import { FleetPoints } from '../../src/fleet/fleet-points.js'
import { FleetSlots } from '../../src/fleet/fleet-slots.js'
import { FleetKeys } from '../../src/fleet/keys.js'
import { RedisLink } from '../../src/fleet/redis-link.js'
import { LocalLimits } from '../../src/limits/local-limits.js'
import { createLogger } from '../../src/logger.js'
import { ruleKey } from '../../src/policy/policy.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { findRedisServer, RedisServer } from '../helpers/redis-server.js'
import { attempt, rule, seatQueue, semantics } from '../limits/admission-semantics.js'
import { createAdmission } from '../../src/limits/admission.js'
import { QuotaHold } from '../../src/limits/quota-hold.js'

const skip = findRedisServer() === undefined ? 'redis-server is not installed (.ci/run installs it)' : false
const logger = createLogger({ level: 'silent' })
const keys = new FleetKeys('admission')

async function linkTo (t: Test, redis: RedisServer): Promise<RedisLink> {
  const link = new RedisLink({ url: redis.url, keyPrefix: 'admission', commandTimeoutMs: 1_000, connectTimeoutMs: 1_000 }, logger, systemClock)
  t.teardown(async () => { await link.close() })
  link.start()
  for (let tries = 0; tries < 250 && !link.connected; tries++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(link.connected, true, 'connected to Redis')
  return link
}

function fleetBackend (link: RedisLink, clock: ManualClock, local = new LocalLimits({ clock })): FleetAdmission {
  const leases = new FleetLimits({ link, clock })
  const points = new FleetPoints({ link, clock })
  return new FleetAdmission({ leases, slots: new FleetSlots({ link, clock }), points, keys, local })
}

t.test('with Redis gone, the fleet backend means exactly what the local backend means', { skip }, async (t) => {
  const redis = await RedisServer.start(t)
  const link = await linkTo(t, redis)
  await redis.stop()
  for (let tries = 0; tries < 250 && link.connected; tries++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(link.connected, false, 'Redis is down')
  semantics(t, (clock) => fleetBackend(link, clock), () => new ManualClock())
})

t.test('with maxConcurrentScope: fleet a call holds exactly one slot: in Redis, not locally as well', { skip }, async (t) => {
  const redis = await RedisServer.start(t)
  const link = await linkTo(t, redis)
  const clock = new ManualClock()
  const local = new LocalLimits({ clock })
  const quotaHold = new QuotaHold({ clock, logger })
  const admit = createAdmission({
    quotaHold, backend: fleetBackend(link, clock, local), queue: seatQueue(clock), defaultMaxConcurrent: 1
  })
  const two = rule(0, { maxConcurrent: 2, maxConcurrentScope: 'fleet' })
  const first = await attempt(admit, 'sync-job', 'jira-main', two)
  const second = await attempt(admit, 'sync-job', 'jira-main', two)
  t.ok('release' in first && 'release' in second, 'a limit of 2 admits 2')
  t.notOk('release' in await attempt(admit, 'sync-job', 'jira-main', two), 'not 3')
  const inspect = redis.client()
  t.teardown(() => { inspect.disconnect() })
  const slots = keys.ruleSlots(ruleKey(two), 'sync-job')
  t.equal(await inspect.zcard(slots), 2, 'Redis counts 2')
  t.equal(local.inFlight('sync-job', two), 0, 'the local backend counts none of them')
  t.equal(local.inFlight('sync-job', undefined), 0, 'nor the caller\'s default share')
  if ('release' in first) first.release()
  if ('release' in second) second.release()
  for (let tries = 0; tries < 100 && await inspect.zcard(slots) > 0; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  t.equal(await inspect.zcard(slots), 0, 'both released in Redis')
})

t.test('the fleet backend renews its slots on the injected clock, and stops when none is held', { skip }, async (t) => {
  const redis = await RedisServer.start(t)
  const link = await linkTo(t, redis)
  const clock = new ManualClock()
  const slots = new FleetSlots({ link, clock })
  t.teardown(() => { slots.stop() })
  const key = keys.ruleSlots('one-rule', 'sync-job')
  const release = await slots.take(key, 1)
  t.type(release, 'function')
  const inspect = redis.client()
  t.teardown(() => { inspect.disconnect() })
  const before = Number(await inspect.zscore(key, (await inspect.zrange(key, 0, -1))[0]!))
  await new Promise((resolve) => setTimeout(resolve, 5))
  await clock.advance(10_000)
  await link.run(async (redis) => await redis.ping())
  const after = Number(await inspect.zscore(key, (await inspect.zrange(key, 0, -1))[0]!))
  t.ok(after > before, 'renewed when the clock passed 10 s (no wall-time wait)')
  if (typeof release === 'function') release()
  await clock.advance(10_000)
  t.equal(clock.pendingTimers, 0, 'no renewal timer once nothing is held')
})
