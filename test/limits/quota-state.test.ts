/** The latest rate-limit headers per integration: kept from answers that carry them, bounded to configured names. */
import t from 'tap'
import { parseRateLimitHeaders } from '../../src/atlassian/rate-limit-headers.js'
import { UpstreamHeadroom } from '../../src/limits/quota-state.js'
import { ManualClock } from '../helpers/manual-clock.js'

t.test('the latest answer with rate-limit headers is kept per integration', async (t) => {
  const clock = new ManualClock(Date.parse('2026-12-04T10:00:00Z'))
  const headroom = new UpstreamHeadroom({ clock, integrations: ['jira-main', 'wiki-main'] })
  headroom.observe('jira-main', 200, parseRateLimitHeaders({ 'X-RateLimit-Limit': '350', 'X-Ratelimit-Remaining': '120', 'X-RateLimit-NearLimit': 'false' }, clock.now()))
  headroom.observe('jira-main', 200, parseRateLimitHeaders({ 'content-type': 'application/json' }, clock.now()))
  t.match(headroom.entries(), [{ integration: 'jira-main', statusCode: 200, limit: 350, remaining: 120, nearLimit: false, reason: null, beta: null }], 'an answer without the headers leaves the last entry')

  await clock.advance(5_000)
  headroom.observe('jira-main', 429, parseRateLimitHeaders({ 'Retry-After': '1847', 'X-RateLimit-Limit': '65000', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': '2026-12-04T10:30:47Z', 'RateLimit-Reason': 'jira-quota-global-based' }, clock.now()))
  headroom.observe('wiki-main', 200, parseRateLimitHeaders({ 'Beta-RateLimit-Policy': '"global-app-quota";q=65000;w=3600', 'Beta-RateLimit': '"global-app-quota";r=11000;t=600' }, clock.now()))
  headroom.observe('not-configured', 429, parseRateLimitHeaders({ 'Retry-After': '5' }, clock.now()))
  t.same(headroom.entries(), [
    { integration: 'jira-main', seenAt: '2026-12-04T10:00:05.000Z', statusCode: 429, limit: 65000, remaining: 0, resetAt: '2026-12-04T10:30:47.000Z', nearLimit: null, reason: 'jira-quota-global-based', retryAfterSeconds: 1847, beta: null },
    { integration: 'wiki-main', seenAt: '2026-12-04T10:00:05.000Z', statusCode: 200, limit: null, remaining: null, resetAt: null, nearLimit: null, reason: null, retryAfterSeconds: null, beta: { policy: 'global-app-quota', quota: 65000, windowSeconds: 3600, remaining: 11000, resetSeconds: 600 } }
  ], 'unconfigured names are not kept')
})

t.test('a reason is kept short and printable', async (t) => {
  const clock = new ManualClock()
  const headroom = new UpstreamHeadroom({ clock, integrations: ['jira-main'] })
  headroom.observe('jira-main', 429, parseRateLimitHeaders({ 'Retry-After': '1', 'RateLimit-Reason': `<b>x</b>\u0007${'y'.repeat(200)}` }, clock.now()))
  const reason = headroom.entries()[0]?.reason ?? ''
  t.equal(reason.length, 80)
  t.notMatch(reason, /[^\x20-\x7e]/)
})
