/**
 * Budgets in points across the fleet, on a real redis-server (points-share.lua.ts, fleet-points.ts): with Redis gone
 * the fleet backend means exactly what the local one means (the shared cases of test/limits/points-semantics.ts);
 * with Redis up a caller's debt is the fleet's, whichever sidecar spent it, and the script divides max-min fairly.
 */
import t, { type Test } from 'tap'
import { systemClock } from '../../src/clock.js'
import { FleetAdmission } from '../../src/fleet/fleet-admission.js'
import { FleetLimits } from '../../src/fleet/fleet-limits.js'
import { FleetPoints } from '../../src/fleet/fleet-points.js'
import { FleetSlots } from '../../src/fleet/fleet-slots.js'
import { FleetKeys } from '../../src/fleet/keys.js'
import { POINTS_SHARE } from '../../src/fleet/points-share.lua.js'
import { RedisLink } from '../../src/fleet/redis-link.js'
import { LocalLimits } from '../../src/limits/local-limits.js'
import { createLogger } from '../../src/logger.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { findRedisServer, RedisServer } from '../helpers/redis-server.js'
import { call, jira, POINTS_CODE, pointsAdmission, pointsSemantics, spend } from '../limits/points-semantics.js'

const skip = findRedisServer() === undefined ? 'redis-server is not installed (.ci/run installs it)' : false
const logger = createLogger({ level: 'silent' })
const keys = new FleetKeys('points')

async function linkTo (t: Test, redis: RedisServer): Promise<RedisLink> {
  const link = new RedisLink({ url: redis.url, keyPrefix: 'points', commandTimeoutMs: 1_000, connectTimeoutMs: 1_000 }, logger, systemClock)
  t.teardown(async () => { await link.close() })
  link.start()
  for (let tries = 0; tries < 250 && !link.connected; tries++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(link.connected, true, 'connected to Redis')
  return link
}

/** One sidecar's admission backend: its own points view and local fallback over the shared Redis. */
interface Sidecar { backend: FleetAdmission, points: FleetPoints, local: LocalLimits }

function sidecar (link: RedisLink, clock: ManualClock): Sidecar {
  const points = new FleetPoints({ link, clock })
  const local = new LocalLimits({ clock })
  const leases = new FleetLimits({ link, clock })
  const backend = new FleetAdmission({ leases, slots: new FleetSlots({ link, clock }), points, keys, local })
  return { backend, points, local }
}

t.test('with Redis gone, points budgets mean exactly what they mean locally', { skip }, async (t) => {
  const redis = await RedisServer.start(t)
  const link = await linkTo(t, redis)
  await redis.stop()
  for (let tries = 0; tries < 250 && link.connected; tries++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(link.connected, false, 'Redis is down')
  pointsSemantics(t, (clock) => sidecar(link, clock).backend, () => new ManualClock())
})

t.test('a caller\'s debt is the fleet\'s: spent through one sidecar, it slows the caller on another', { skip }, async (t) => {
  const redis = await RedisServer.start(t)
  const clock = new ManualClock()
  const a = sidecar(await linkTo(t, redis), clock)
  const b = sidecar(await linkTo(t, redis), clock)
  const integrations = { 'jira-main': jira(3_600) }
  const admitA = pointsAdmission(clock, a.backend, integrations)
  const admitB = pointsAdmission(clock, b.backend, integrations)

  await spend(t, admitA, 'greedy-job', 200)
  await a.points.settled()
  t.match(await call(admitA, 'greedy-job'), { code: POINTS_CODE }, 'refused where it spent')
  const inspect = redis.client()
  t.teardown(() => { inspect.disconnect() })
  t.ok(Number(await inspect.hget(keys.points('jira-main'), 't:greedy-job')) < 0, 'Redis holds the debt')
  t.equal(a.local.pointsRoom({ integration: 'jira-main', pointsPerHour: 3_600 }, 'greedy-job'), 0, 'not counted locally too')

  // Sidecar b has not seen this caller yet: its first call passes, and its charge brings back the fleet's figure.
  await spend(t, admitB, 'greedy-job', 1)
  await b.points.settled()
  t.match(await call(admitB, 'greedy-job'), { code: POINTS_CODE }, 'refused on the other sidecar too')
  t.ok('release' in await call(admitB, 'light-job'), 'a light caller of the same budget still gets through')
  t.equal(a.points.roundTrips + b.points.roundTrips, 2, 'one round trip per charge, none per pre-check')
})

t.test('the script divides the budget max-min fairly among active callers, and bounds its hash', { skip }, async (t) => {
  const redis = await RedisServer.start(t)
  const client = redis.client()
  t.teardown(() => { client.disconnect() })
  const key = keys.points('wiki-main')
  const charge = async (caller: string, points: number): Promise<number[]> =>
    await client.eval(POINTS_SHARE, 1, key, caller, points, 3_600, 8_000) as number[]
  t.same((await charge('a', 0)).slice(1), [1_000_000, 0], 'a lone caller has the whole 1 point/s')
  t.equal((await charge('b', 0))[1], 500_000, 'two idle callers share equally')
  const greedy = await charge('a', 600)
  t.equal(greedy[0], (60 - 600) * 1_000, 'a debt: its bucket held a minute of its share (60), less 600')
  t.equal(greedy[1], 1_000_000, 'the greedy caller gets what the idle one does not want')
  t.ok(((await charge('b', 0))[1] ?? 0) < 1_000_000 / 2, 'the idle caller keeps what it uses (little), not half')
  t.ok(await client.pttl(key) > 3_600_000, 'the hash lives past the hour')

  const junk = keys.points('junk')
  await client.hset(junk, Object.fromEntries(Array.from({ length: 9_000 }, (_unused, index) => [`f${index}`, '1'])))
  const answer = await client.eval(POINTS_SHARE, 1, junk, 'a', 1, 3_600, 8_000) as number[]
  t.equal(answer[2], 1, 'an oversized hash is discarded unread')
  t.equal(await client.hlen(junk), 4, 'and only the caller\'s own fields are left')
})
