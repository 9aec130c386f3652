/**
 * The fair-share lease script (src/fleet/fair-share.lua.ts) run on a real Redis: shares are divided max-min fairly
 * and sum to the budget, and a light caller's bucket holds enough burst that two of its sidecars asking at once are
 * both served while a greedy caller keeps the rest of the budget busy.
 */
import t from 'tap'
import { FAIR_SHARE_LEASE } from '../../src/fleet/fair-share.lua.js'
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
      BURST
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
