import t from 'tap'
import { TokenBucket } from '../../src/limits/token-bucket.js'

t.test('a full bucket grants `burst` tokens at once, then refills at perSecond', async (t) => {
  const bucket = new TokenBucket(2, 3, 0)
  t.same([bucket.take(0), bucket.take(0), bucket.take(0)], [0, 0, 0])
  t.equal(bucket.take(0), 500, 'the next token is half a second away at 2/s')
  t.equal(bucket.take(250), 250)
  t.equal(bucket.take(500), 0)
  t.notOk(bucket.full(500))
  t.ok(bucket.full(2_000), 'refilled to capacity, never beyond')
  t.same([bucket.take(10_000), bucket.take(10_000), bucket.take(10_000)], [0, 0, 0])
  t.ok(bucket.take(10_000) > 0, 'capacity stays at burst however long it rested')
})

t.test('fractional rates wait whole milliseconds; time going backwards refills nothing', async (t) => {
  const bucket = new TokenBucket(0.5, 1, 1_000)
  t.equal(bucket.take(1_000), 0)
  t.equal(bucket.take(1_000), 2_000)
  t.equal(bucket.take(500), 2_000)
})
