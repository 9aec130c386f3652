/**
 * The fair-share lease script (src/fleet/fair-share.lua.ts) run on a real Redis: shares are divided max-min fairly
 * and sum to the budget, and a light caller's bucket holds enough burst that two of its sidecars asking at once are
 * both served while a greedy caller keeps the rest of the budget busy.
 */
import t from 'tap'
import { FAIR_SHARE_LEASE } from '../../src/fleet/fair-share.lua.js'
import { MAX_BUDGET_FIELDS } from '../../src/fleet/fleet-limits.js'
import { findRedisServer, RedisServer } from '../helpers/redis-server.js'

const RATE = 20
const BURST = 5

const skip = findRedisServer() === undefined ? 'redis-server is not installed (.ci/run installs it)' : false

t.test('a light caller under an equal share gets bunched calls through; shares sum to the budget', { skip }, async (t) => {
  const redis = await RedisServer.start(t)
  const client = redis.client()
  t.teardown(() => { client.disconnect() })
  const lease = async (
    caller: string,
    want: number,
    arrivals: number
  ): Promise<{ granted: number, waitMs: number, share: number }> => {
    const [granted, waitMs, shareMilli] = (await client.eval(
      FAIR_SHARE_LEASE,
      1,
      'budget',
      caller,
      want,
      arrivals,
      RATE,
      BURST,
      MAX_BUDGET_FIELDS
    )) as [number, number, number]
    return { granted, waitMs, share: shareMilli / 1000 }
  }
  // The greedy caller reports far more arrivals than the budget and drains its bucket.
  let greedy = await lease('greedy', 1, 500)
  for (let i = 0; i < 20 && greedy.granted > 0; i++) greedy = await lease('greedy', 1, 0)
  t.equal(greedy.granted, 0, 'the greedy caller is refused once its bucket is empty')

  // The light caller wants 2 calls a second: two sidecars ask for it back to back.
  const first = await lease('light', 1, 2)
  const second = await lease('light', 1, 0)
  t.equal(first.granted, 1, 'the light caller\'s first call is served')
  t.equal(second.granted, 1, 'and the second, bunched with it, too (its bucket holds an equal share\'s burst)')
  t.equal(first.share, 2.5, 'its share is its demand plus a quarter')

  const greedyAfter = await lease('greedy', 1, 0)
  t.equal(greedyAfter.share + first.share, RATE, 'the greedy caller has the rest: shares sum to the budget')
})

t.test('junk in the budget hash cannot stall Redis or take a share (issue 24: 400k fields made the lease take 251 ms)', { skip }, async (t) => {
  const redis = await RedisServer.start(t)
  const client = redis.client()
  t.teardown(() => { client.disconnect() })
  const lease = async (key: string): Promise<number[]> =>
    (await client.eval(FAIR_SHARE_LEASE, 1, key, 'report-job', 1, 1, RATE, BURST, MAX_BUDGET_FIELDS)) as number[]

  // 400k junk fields, written in batches as someone with write access to Redis could.
  for (let batch = 0; batch < 40; batch++) {
    const fields: string[] = []
    for (let i = 0; i < 10_000; i++) fields.push(`junk:${batch}:${i}`, 'x')
    await client.hset('budget-junk', ...fields)
  }
  t.equal(await client.hlen('budget-junk'), 400_000)
  const answer = await lease('budget-junk')
  t.equal(answer[3], 1, 'the oversized hash was discarded before it was read')
  t.equal(answer[0], 1, 'the lease is granted from a fresh hash')
  t.ok(await client.hlen('budget-junk') <= 5, 'what is left is this caller\'s own five fields at most, not 400k')
  t.ok(await client.pttl('budget-junk') > 0, 'and it has a TTL')

  // A hash at the cap is still read (a real fleet with that many callers keeps its state).
  const atCap: string[] = []
  for (let i = 0; i < MAX_BUDGET_FIELDS; i++) atCap.push(`junk:${i}`, 'x')
  await client.hset('budget-at-cap', ...atCap)
  t.equal((await lease('budget-at-cap'))[3], 0, 'not discarded at the cap')

  // A forged caller "seen" far in the future with a huge demand: it would stay active for ever and take a share.
  await client.hset('budget-ghost', 'w:ghost', '99999999999', 'c:ghost', '1000000', 'p:ghost', '1000000')
  const [granted, , shareMilli] = await lease('budget-ghost')
  t.equal(granted, 1)
  t.equal(shareMilli, RATE * 1000, 'the ghost is not an active caller: report-job has the whole budget')
  t.equal(await client.hexists('budget-ghost', 'w:ghost'), 0, 'and it is dropped like a stale caller')
})
