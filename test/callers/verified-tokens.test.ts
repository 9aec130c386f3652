/** The verified-token cache in front of @fastify/jwt: exact-token hits only, each within its own nbf..exp window. */
import t from 'tap'
import { VerifiedTokens } from '../../src/callers/verified-tokens.js'

const nowSeconds = (): number => Math.floor(Date.now() / 1000)

t.test('a remembered token is served until its exp (plus tolerance), then forgotten', async (t) => {
  const cache = new VerifiedTokens<{ id: string }>({ max: 10, clockToleranceMs: 0 })
  const live = { id: 'report-job' }
  cache.remember('Bearer live', live, { exp: nowSeconds() + 3600 })
  t.equal(cache.get('Bearer live'), live, 'the same object, no verification')
  cache.remember('Bearer gone', { id: 'old-job' }, { exp: nowSeconds() - 1 })
  t.equal(cache.get('Bearer gone'), undefined, 'expired: not served')
  t.equal(cache.size, 1, 'and dropped')
})

t.test('clock tolerance extends exp and nbf as fast-jwt does', async (t) => {
  const cache = new VerifiedTokens<{ id: string }>({ max: 10, clockToleranceMs: 30_000 })
  cache.remember('Bearer late', { id: 'a' }, { exp: nowSeconds() - 5 })
  t.ok(cache.get('Bearer late'), 'expired 5 s ago, within 30 s tolerance')
  cache.remember('Bearer early', { id: 'b' }, { exp: nowSeconds() + 3600, nbf: nowSeconds() + 10 })
  t.ok(cache.get('Bearer early'), 'valid from 10 s ahead, within tolerance')
  cache.remember('Bearer future', { id: 'c' }, { exp: nowSeconds() + 3600, nbf: nowSeconds() + 600 })
  t.equal(cache.get('Bearer future'), undefined, 'not yet valid: verification has to say so')
})

t.test('only the exact header value hits', async (t) => {
  const cache = new VerifiedTokens<{ id: string }>({ max: 10, clockToleranceMs: 0 })
  cache.remember('Bearer aaa.bbb.ccc', { id: 'a' }, { exp: nowSeconds() + 60 })
  for (const other of ['Bearer aaa.bbb.cc', 'Bearer aaa.bbb.cccd', 'bearer aaa.bbb.ccc', 'Bearer  aaa.bbb.ccc']) {
    t.equal(cache.get(other), undefined, JSON.stringify(other))
  }
})

t.test('a token without a numeric exp is never remembered', async (t) => {
  const cache = new VerifiedTokens<{ id: string }>({ max: 10, clockToleranceMs: 0 })
  cache.remember('Bearer x', { id: 'x' }, {})
  cache.remember('Bearer y', { id: 'y' }, { exp: String(nowSeconds() + 60) })
  t.equal(cache.size, 0)
})

t.test('bounded in count: least recently used out', async (t) => {
  const cache = new VerifiedTokens<{ id: string }>({ max: 2, clockToleranceMs: 0 })
  const exp = nowSeconds() + 60
  cache.remember('Bearer 1', { id: '1' }, { exp })
  cache.remember('Bearer 2', { id: '2' }, { exp })
  cache.get('Bearer 1')
  cache.remember('Bearer 3', { id: '3' }, { exp })
  t.ok(cache.get('Bearer 1'))
  t.equal(cache.get('Bearer 2'), undefined)
  t.ok(cache.get('Bearer 3'))
})

t.test('read on the injected clock: a remembered token ends at its exp by that clock, not the wall', async (t) => {
  let now = Date.parse('2026-01-10T08:00:00Z')
  const cache = new VerifiedTokens<{ id: string }>({ max: 10, clockToleranceMs: 0, now: () => now })
  const entry = { id: 'report-job' }
  cache.remember('Bearer t', entry, { exp: now / 1000 + 60 })
  t.equal(cache.get('Bearer t'), entry, 'valid by the clock (long expired by the wall)')
  now += 61_000
  t.equal(cache.get('Bearer t'), undefined, 'past exp by the clock')
})

t.test('the cache is allocated at the first token remembered, not when the broker starts', async (t) => {
  // lru-cache's linked lists are typed arrays sized to `max`: 100,000 entries are well over a megabyte of them.
  const before = process.memoryUsage().arrayBuffers
  const cache = new VerifiedTokens<{ id: string }>({ max: 100_000, clockToleranceMs: 0 })
  t.equal(cache.get('Bearer anything'), undefined, 'a lookup on the empty cache allocates nothing either')
  const idle = process.memoryUsage().arrayBuffers - before
  t.ok(idle < 256 * 1024, `nothing allocated before use (${idle} bytes)`)
  cache.remember('Bearer first', { id: 'report-job' }, { exp: nowSeconds() + 60 })
  const used = process.memoryUsage().arrayBuffers - before
  t.ok(used > 1_048_576, `then allocated for all entries (${used} bytes): the measure sees it`)
  t.equal(cache.size, 1)
})
