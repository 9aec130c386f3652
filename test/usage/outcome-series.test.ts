/** Calls per minute by outcome: classification, the 60-minute ring, selection, and the bound on series. */
import t from 'tap'
import { CALL_OUTCOMES, callOutcome } from '../../src/usage/call-outcome.js'
import { OutcomeSeries, SERIES_MINUTES } from '../../src/usage/outcome-series.js'
import { ManualClock } from '../helpers/manual-clock.js'

t.test('each answer has one outcome, named by who decided it', async (t) => {
  t.equal(callOutcome({ statusCode: 200, errorCode: undefined }), 'ok')
  t.equal(callOutcome({ statusCode: 204, errorCode: undefined }), 'ok')
  t.equal(callOutcome({ statusCode: 401, errorCode: 'BROKER_ERR_CALLER_UNAUTHENTICATED' }), 'brokerRefused')
  t.equal(callOutcome({ statusCode: 403, errorCode: 'BROKER_ERR_POLICY_DENIED' }), 'brokerRefused')
  t.equal(callOutcome({ statusCode: 404, errorCode: 'BROKER_ERR_INTEGRATION_NOT_FOUND' }), 'brokerRefused')
  t.equal(callOutcome({ statusCode: 404, errorCode: undefined }), 'atlassianRefused', 'a 404 passed through is Atlassian\'s')
  t.equal(callOutcome({ statusCode: 401, errorCode: undefined }), 'atlassianRefused')
  t.equal(callOutcome({ statusCode: 429, errorCode: 'BROKER_ERR_CALLER_RATE_LIMITED' }), 'callerLimited')
  t.equal(callOutcome({ statusCode: 429, errorCode: 'BROKER_ERR_UPSTREAM_RATE_LIMITED' }), 'quotaHeld')
  t.equal(callOutcome({ statusCode: 429, errorCode: undefined }), 'atlassianLimited')
  t.equal(callOutcome({ statusCode: 504, errorCode: 'BROKER_ERR_UPSTREAM_TIMEOUT' }), 'failed')
  t.equal(callOutcome({ statusCode: 503, errorCode: undefined }), 'failed')
})

t.test('per minute, last hour: counts land in their minute and age out after 60 minutes', async (t) => {
  const clock = new ManualClock(Date.parse('2026-12-04T10:00:30Z'))
  const series = new OutcomeSeries({ clock })
  series.record('report-job', 'jira-main', 'ok')
  series.record('report-job', 'jira-main', 'ok')
  series.record('report-job', 'jira-main', 'atlassianRefused')
  await clock.advance(60_000)
  series.record('report-job', 'jira-main', 'quotaHeld')
  series.record('sync-job', 'wiki-main', 'failed')

  let view = series.view()
  t.equal(view.minutes.length, SERIES_MINUTES)
  t.equal(view.minutes.at(-1)?.minute, '2026-12-04T10:01:00.000Z', 'the current minute is last')
  t.match(view.minutes.at(-2), { minute: '2026-12-04T10:00:00.000Z', ok: 2, atlassianRefused: 1, total: 3 })
  t.match(view.minutes.at(-1), { quotaHeld: 1, failed: 1, total: 2 })
  t.equal(view.minutes.slice(0, -2).reduce((sum, minute) => sum + minute.total, 0), 0, 'older minutes are zeros')
  t.same(view.series.map((entry) => [entry.caller, entry.integration, entry.lastHour.total]), [['report-job', 'jira-main', 4], ['sync-job', 'wiki-main', 1]])
  t.same(view.callers, ['report-job', 'sync-job'])
  t.same(view.integrations, ['jira-main', 'wiki-main'])
  for (const outcome of CALL_OUTCOMES) t.type(view.minutes[0]?.[outcome], 'number', `every minute has ${outcome}`)

  // Selection: one caller, one integration, or both.
  t.equal(series.view({ caller: 'sync-job' }).minutes.reduce((sum, minute) => sum + minute.total, 0), 1)
  t.same(series.view({ integration: 'jira-main' }).series.map((entry) => entry.caller), ['report-job'])
  t.equal(series.view({ caller: 'sync-job', integration: 'jira-main' }).series.length, 0)
  t.same(series.view({ caller: 'sync-job' }).callers, ['report-job', 'sync-job'], 'the choices stay complete under a selection')

  await clock.advance(59 * 60_000)
  view = series.view()
  t.match(view.series, [{ caller: 'report-job', lastHour: { quotaHeld: 1, total: 1 } }, { caller: 'sync-job', lastHour: { total: 1 } }], 'minute 10:00 has left the hour')
  await clock.advance(60_000)
  t.same(series.view().series, [], 'an hour without calls shows nothing')

  series.record('report-job', 'jira-main', 'callerLimited')
  t.match(series.view().series, [{ lastHour: { callerLimited: 1, ok: 0, quotaHeld: 0, total: 1 } }], 'a reused slot starts from zero')
})

t.test('memory is bounded: past maxSeries new pairs are counted under "other"', async (t) => {
  const clock = new ManualClock()
  const series = new OutcomeSeries({ clock, maxSeries: 3 })
  for (let i = 0; i < 10; i++) series.record(`caller-${i}`, 'jira-main', 'ok')
  t.equal(series.size, 4, 'three named series plus other')
  const view = series.view()
  t.match(view.series.find((entry) => entry.caller === 'other'), { lastHour: { ok: 7 } })
  t.equal(view.series.reduce((sum, entry) => sum + entry.lastHour.total, 0), 10, 'no call is lost')
})
