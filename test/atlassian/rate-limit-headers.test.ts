import t from 'tap'
import { gatewayRateLimited, rateLimited, BETA_RATE_LIMIT_HEADERS } from '../helpers/fake-atlassian.js'
import { isQuotaReason, NO_RATE_LIMIT, normaliseReason, parseRateLimitHeaders, parseRetryAfter } from '../../src/atlassian/rate-limit-headers.js'

const NOW = Date.parse('2026-01-01T01:00:00Z')

t.test('the documented burst 429 (rate-limiting doc example)', async (t) => {
  const info = parseRateLimitHeaders({
    'Retry-After': '1',
    'X-RateLimit-Limit': '350',
    'X-RateLimit-Remaining': '0',
    'X-RateLimit-Reset': '2026-01-01T01:01:01Z',
    'RateLimit-Reason': 'jira-burst-based'
  }, NOW)
  t.same(info.enforced, {
    retryAfterMs: 1000,
    limit: 350,
    remaining: 0,
    resetAt: Date.parse('2026-01-01T01:01:01Z'),
    nearLimit: undefined,
    reason: 'jira-burst-based',
    policies: [],
    limits: []
  })
  t.equal(info.beta.reason, undefined)
})

t.test('header names are matched whatever their case (production spellings)', async (t) => {
  const info = parseRateLimitHeaders({
    'retry-after': '1847',
    'X-Ratelimit-Limit': '100000',
    'x-ratelimit-remaining': '0',
    'X-RATELIMIT-RESET': '2025-10-08T15:00:00Z',
    'ratelimit-reason': 'jira-quota-global-based',
    'X-Ratelimit-NearLimit': 'TRUE',
    'Beta-Ratelimit-Policy': '"global-app-quota";q=65000;w=3600',
    'X-Beta-Ratelimit-Nearlimit': 'false',
    'x-beta-ratelimit-reason': 'jira-quota-tenant-based',
    'BETA-RETRY-AFTER': '50'
  }, NOW)
  t.equal(info.enforced.retryAfterMs, 1_847_000)
  t.equal(info.enforced.limit, 100_000)
  t.equal(info.enforced.remaining, 0)
  t.equal(info.enforced.resetAt, Date.parse('2025-10-08T15:00:00Z'))
  t.equal(info.enforced.nearLimit, true)
  t.equal(info.enforced.reason, 'jira-quota-global-based')
  t.same(info.beta.policies, [{ name: 'global-app-quota', params: { q: 65000, w: 3600 } }])
  t.equal(info.beta.nearLimit, false)
  t.equal(info.beta.reason, 'jira-quota-tenant-based')
  t.equal(info.beta.retryAfterMs, 50_000)
})

t.test('structured RateLimit headers: several entries, any order of parameters, quoted names', async (t) => {
  const info = parseRateLimitHeaders({
    'Beta-RateLimit': '"global-app-quota";t=600;r=11000, "tenant-app-quota";t=42',
    'RateLimit-Policy': 'jira-burst-based;w=1;q=100, "odd;name";q=1',
    RateLimit: ''
  }, NOW)
  t.same(info.beta.limits, [
    { name: 'global-app-quota', params: { t: 600, r: 11000 } },
    { name: 'tenant-app-quota', params: { t: 42 } }
  ])
  t.same(info.enforced.policies, [{ name: 'jira-burst-based', params: { w: 1, q: 100 } }, { name: 'odd;name', params: { q: 1 } }])
  t.same(info.enforced.limits, [])
})

t.test('a repeated structured header is parsed once and shared, frozen; many distinct values do not break it', async (t) => {
  const header = { 'Beta-RateLimit': '"global-app-quota";t=600;r=11000, "tenant-app-quota";t=42' }
  const first = parseRateLimitHeaders(header, NOW).beta.limits
  const again = parseRateLimitHeaders(header, NOW).beta.limits
  t.equal(again, first, 'the same frozen entries for the same text')
  t.ok(Object.isFrozen(first) && Object.isFrozen(first[0]) && Object.isFrozen(first[0]?.params), 'frozen all the way down')
  for (let n = 0; n < 600; n++) parseRateLimitHeaders({ 'Beta-RateLimit': `"made-up-${n}";t=${n}` }, NOW)
  t.same(parseRateLimitHeaders({ 'Beta-RateLimit': '"made-up-599";t=599' }, NOW).beta.limits, [{ name: 'made-up-599', params: { t: 599 } }])
  t.same(parseRateLimitHeaders(header, NOW).beta.limits, [
    { name: 'global-app-quota', params: { t: 600, r: 11000 } },
    { name: 'tenant-app-quota', params: { t: 42 } }
  ], 'parsed again after the map was emptied')
})

t.test('the fake\'s canned answers parse as documented', async (t) => {
  const resetAt = new Date(NOW + 3_600_000)
  const quota = parseRateLimitHeaders(rateLimited({ retryAfterSeconds: 1847, reason: 'confluence-quota-tenant-based', resetAt }).headers ?? {}, NOW)
  t.equal(quota.enforced.reason, 'confluence-quota-tenant-based')
  t.equal(quota.enforced.resetAt, resetAt.getTime())
  const gateway = parseRateLimitHeaders(gatewayRateLimited().headers ?? {}, NOW)
  t.same(
    [gateway.enforced.retryAfterMs, gateway.enforced.reason, gateway.enforced.limit, gateway.enforced.remaining],
    [undefined, undefined, 360000, 0]
  )
  t.equal(parseRateLimitHeaders(BETA_RATE_LIMIT_HEADERS, NOW).beta.limits[0]?.params.r, 11000)
})

t.test('Retry-After: delta-seconds, HTTP-date, past dates and garbage', async (t) => {
  t.equal(parseRetryAfter('120', NOW), 120_000)
  t.equal(parseRetryAfter(new Date(NOW + 30_000).toUTCString(), NOW), 30_000)
  t.equal(parseRetryAfter(new Date(NOW - 30_000).toUTCString(), NOW), 0)
  t.equal(parseRetryAfter('soon', NOW), undefined)
  t.equal(parseRetryAfter(undefined, NOW), undefined)
  t.equal(parseRetryAfter('  ', NOW), undefined)
})

t.test('X-RateLimit-Reset as epoch seconds, epoch ms or seconds to wait; array header values', async (t) => {
  t.equal(parseRateLimitHeaders({ 'x-ratelimit-reset': '1767229260' }, NOW).enforced.resetAt, 1_767_229_260_000)
  t.equal(parseRateLimitHeaders({ 'x-ratelimit-reset': '1767229260000' }, NOW).enforced.resetAt, 1_767_229_260_000)
  t.equal(parseRateLimitHeaders({ 'x-beta-ratelimit-reset': '30' }, NOW).beta.resetAt, NOW + 30_000)
  t.equal(parseRateLimitHeaders({ 'x-ratelimit-reset': 'later' }, NOW).enforced.resetAt, undefined)
  t.equal(parseRateLimitHeaders({ 'retry-after': ['5', '9'] }, NOW).enforced.retryAfterMs, 5_000)
  t.equal(parseRateLimitHeaders({ 'x-ratelimit-limit': '-1' }, NOW).enforced.limit, undefined)
})

t.test('reasons: normalised to a bounded set, quota detection, enforced before beta', async (t) => {
  t.equal(normaliseReason('jira-burst-based'), 'jira-burst-based')
  t.equal(normaliseReason('Jira-Quota-Global-Based'), 'jira-quota-global-based')
  t.equal(normaliseReason('jira-max-concurrent-threads-across-all-instances-per-tenant-per-user'), 'jira-max-concurrent-threads-across-all-instances-per-tenant-per-user')
  t.equal(normaliseReason(undefined), 'none')
  t.equal(normaliseReason(''), 'none')
  t.equal(normaliseReason(`made-up-${Math.random()}`), 'other')
  t.ok(isQuotaReason('jira-quota-tenant-based'))
  t.ok(isQuotaReason('confluence-quota-global-based'))
  t.notOk(isQuotaReason('jira-burst-based'))
  t.notOk(isQuotaReason(undefined))
  const reason = (headers: Record<string, string>): string | undefined => parseRateLimitHeaders(headers, NOW).reason
  t.equal(reason({ 'RateLimit-Reason': 'jira-burst-based', 'Beta-RateLimit-Reason': 'x' }), 'jira-burst-based')
  t.equal(reason({ 'X-Beta-RateLimit-Reason': 'jira-quota-tenant-based' }), 'jira-quota-tenant-based')
  t.equal(reason({}), undefined)
})

t.test('an empty RateLimit-Reason beside a beta reason: the metric said "none" while the headroom showed the beta reason', async (t) => {
  const info = parseRateLimitHeaders({ 'Retry-After': '1', 'RateLimit-Reason': ' ', 'Beta-RateLimit-Reason': 'jira-burst-based' }, NOW)
  t.equal(info.enforced.reason, undefined, 'nothing enforced to act on')
  t.equal(info.reason, 'jira-burst-based', 'one reason to report, read by the metric, the headroom and the call record alike')
})

t.test('one frozen object per answer; an answer without rate-limit headers shares one constant', async (t) => {
  const info = parseRateLimitHeaders({ 'Retry-After': '1', ...BETA_RATE_LIMIT_HEADERS }, NOW)
  t.ok(Object.isFrozen(info) && Object.isFrozen(info.enforced) && Object.isFrozen(info.beta))
  const policy = info.beta.policies[0]
  t.ok(Object.isFrozen(info.beta.policies) && Object.isFrozen(policy) && Object.isFrozen(policy?.params))
  const writable = info.enforced as { retryAfterMs: number | undefined }
  t.throws(() => { writable.retryAfterMs = 0 }, TypeError, 'a consumer cannot change what the others read')
  t.equal(parseRateLimitHeaders({ 'content-type': 'application/json', 'x-arequestid': 'abc' }, NOW), NO_RATE_LIMIT)
  t.same(NO_RATE_LIMIT, { enforced: NO_RATE_LIMIT.enforced, beta: NO_RATE_LIMIT.enforced, reason: undefined })
  t.equal(NO_RATE_LIMIT.enforced.retryAfterMs, undefined)
})
