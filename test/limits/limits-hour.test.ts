/** The limits' hour for the ops page (issue 27 §2): quota holds as spans, remaining figures per minute. */
import t from 'tap'
import { parseRateLimitHeaders } from '../../src/atlassian/rate-limit-headers.js'
import { createLogger } from '../../src/logger.js'
import { QuotaHold } from '../../src/limits/quota-hold.js'
import { UpstreamHeadroom } from '../../src/limits/quota-state.js'
import { ManualClock } from '../helpers/manual-clock.js'

t.test('quota hold spans: an extension moves the end, a hold after a gap is another, at most 50 kept', async (t) => {
  const clock = new ManualClock(Date.parse('2026-12-07T10:00:00Z'))
  const hold = new QuotaHold({ clock, logger: createLogger({ level: 'silent' }) })
  const quota = (seconds: number) => parseRateLimitHeaders({ 'Retry-After': String(seconds), 'RateLimit-Reason': 'jira-quota-tenant-based' }, clock.now())
  hold.observe('jira-main', 429, quota(60))
  await clock.advance(30_000)
  hold.observe('jira-main', 429, quota(120))
  t.same(hold.holds(0), [{ integration: 'jira-main', from: Date.parse('2026-12-07T10:00:00Z'), until: Date.parse('2026-12-07T10:02:30Z') }], 'extended, one span')
  await clock.advance(10 * 60_000)
  hold.adopt('jira-main', 5_000)
  t.equal(hold.holds(0).length, 2, 'a hold after a gap (here another sidecar\'s) is another span')
  t.equal(hold.holds(Date.parse('2026-12-07T10:05:00Z')).length, 1, 'only the spans still active since the time asked')
  for (let i = 0; i < 60; i++) {
    await clock.advance(10_000)
    hold.adopt('wiki-main', 1_000)
  }
  t.equal(hold.holds(0).length, 50, 'bounded')
})

t.test('headroom over the hour: each minute\'s last figures, oldest first, older than an hour dropped', async (t) => {
  const clock = new ManualClock(Date.parse('2026-12-07T10:00:00Z'))
  const headroom = new UpstreamHeadroom({ clock, integrations: ['jira-main'] })
  const seen = (remaining: number) => { headroom.observe('jira-main', 200, parseRateLimitHeaders({ 'X-RateLimit-Limit': '350', 'X-RateLimit-Remaining': String(remaining) }, clock.now())) }
  seen(300)
  await clock.advance(20_000)
  seen(250)
  await clock.advance(60_000)
  seen(200)
  t.same(headroom.hour('jira-main'), [
    { minute: '2026-12-07T10:00:00.000Z', remaining: 250, limit: 350, betaRemaining: null, betaQuota: null },
    { minute: '2026-12-07T10:01:00.000Z', remaining: 200, limit: 350, betaRemaining: null, betaQuota: null }
  ], 'the last figure of each minute')
  t.same(headroom.hour('wiki-main'), [], 'nothing seen, nothing shown')
  await clock.advance(59 * 60_000)
  t.same(headroom.hour('jira-main').map((sample) => sample.remaining), [200], 'the minute over an hour old is gone')
})

t.test('headroom over the hour after the clock steps back: a minute after now is not drawn', async (t) => {
  const clock = new ManualClock(Date.parse('2026-12-07T10:05:00Z'))
  const headroom = new UpstreamHeadroom({ clock, integrations: ['jira-main'] })
  const seen = (remaining: number) => { headroom.observe('jira-main', 200, parseRateLimitHeaders({ 'X-RateLimit-Remaining': String(remaining) }, clock.now())) }
  seen(300)
  await clock.advance(-3 * 60_000)
  seen(250)
  t.same(headroom.hour('jira-main').map((sample) => [sample.minute, sample.remaining]), [['2026-12-07T10:02:00.000Z', 250]])
})
