/** Atlassian's points pools as last seen (src/limits/point-pools.ts) from the one parse of the headers. */
import t from 'tap'
import { parseRateLimitHeaders, poolReadings } from '../../src/atlassian/rate-limit-headers.js'
import { MAX_POOLS, PointPools } from '../../src/limits/point-pools.js'

const NOW = Date.parse('2026-11-23T12:00:00Z')
type Parsed = ReturnType<typeof parseRateLimitHeaders>
const beta = (remaining: number | undefined, reset = 600): Parsed => parseRateLimitHeaders({
  'beta-ratelimit-policy': '"global-app-quota";q=65000;w=3600, "tenant-app-quota";q=10000;w=3600',
  'Beta-Ratelimit': remaining === undefined ? '"global-app-quota";t=600' : `"global-app-quota";r=${remaining};t=${reset}`
}, NOW)

t.test('poolReadings joins each policy with its remaining points by name, enforced first', async (t) => {
  t.same(poolReadings(beta(11_000)), [
    { name: 'global-app-quota', enforced: false, quota: 65_000, windowSeconds: 3_600, remaining: 11_000, resetSeconds: 600 },
    { name: 'tenant-app-quota', enforced: false, quota: 10_000, windowSeconds: 3_600, remaining: undefined, resetSeconds: undefined }
  ])
  const both = parseRateLimitHeaders({
    'RateLimit-Policy': '"tenant-app-quota";q=9000;w=3600',
    'Beta-RateLimit-Policy': '"tenant-app-quota";q=1;w=1'
  }, NOW)
  t.same(poolReadings(both).map((reading) => [reading.name, reading.enforced, reading.quota]), [['tenant-app-quota', true, 9_000]])
  t.same(poolReadings(parseRateLimitHeaders({ 'content-type': 'application/json' }, NOW)), [], 'no headers, no pools')
})

t.test('the pool as last seen, and the estimate reconciled with what the pool moved in one window', async (t) => {
  const pools = new PointPools()
  pools.observe('jira-main', beta(11_000), NOW)
  pools.charge('jira-main', 51)
  pools.charge('wiki-main', 999)
  pools.observe('jira-main', beta(10_940), NOW + 1_000)
  let [global, tenant] = pools.rows()
  t.match(global, {
    integration: 'jira-main',
    policy: 'global-app-quota',
    quota: 65_000,
    remaining: 10_940,
    resetAt: new Date(NOW + 1_000 + 600_000).toISOString(),
    reconciled: { intervals: 1, observedPoints: 60, estimatedPoints: 51 }
  }, 'the pool moved 60 while this process estimated 51: others spend from it too')
  t.match(tenant, { policy: 'tenant-app-quota', quota: 10_000, remaining: null, reconciled: { intervals: 0 } })

  pools.observe('jira-main', beta(undefined), NOW + 2_000)
  pools.charge('jira-main', 5)
  pools.observe('jira-main', beta(64_000, 3_599), NOW + 3_000)
  ;[global] = pools.rows()
  t.match(global, { remaining: 64_000, reconciled: { intervals: 1, observedPoints: 60 } }, 'a new window is not an interval')
  pools.charge('jira-main', 0)
  pools.observe('jira-main', beta(64_000, 3_598), NOW + 4_000)
  t.match(pools.rows()[0], { reconciled: { intervals: 2, observedPoints: 60, estimatedPoints: 51 } })
})

t.test('bounded: at most MAX_POOLS policy names per integration, printable and short', async (t) => {
  const pools = new PointPools()
  const names = Array.from({ length: MAX_POOLS + 5 }, (_unused, index) => `"p${index}\u0007${'x'.repeat(100)}";q=1`).join(', ')
  pools.observe('jira-main', parseRateLimitHeaders({ 'ratelimit-policy': names }, NOW), NOW)
  const rows = pools.rows()
  t.equal(rows.length, MAX_POOLS)
  t.ok(rows.every((row) => row.policy.length <= 80 && /^[\x20-\x7e]+$/.test(row.policy)))
})
