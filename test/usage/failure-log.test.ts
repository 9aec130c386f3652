/** The hour of failures (issue 27 §2): counted by integration × status × code per minute, the latest kept whole in a
 * bounded ring; successes never enter; a minute leaves the hour after 60. */
import t from 'tap'
import { FailureLog } from '../../src/usage/failure-log.js'
import { MinuteCounts } from '../../src/usage/minute-counts.js'
import { ManualClock } from '../helpers/manual-clock.js'

const failure = (clock: ManualClock, requestId: string, statusCode: number, errorCode?: string) =>
  ({ requestId, statusCode, errorCode, at: clock.now(), upstreamStatus: errorCode === undefined ? statusCode : 0 })

t.test('failures by status and code over the hour, and the latest by request id in a bounded ring', async (t) => {
  const clock = new ManualClock(Date.parse('2026-12-07T10:00:00Z'))
  const log = new FailureLog({ clock, recent: 3 })
  log.record('report-job', 'jira-main', failure(clock, 'ok-1', 200))
  t.same(log.recent(), [], 'a success is no failure')
  log.record('report-job', 'jira-main', failure(clock, 'r-1', 404))
  log.record('sync-job', 'jira-main', failure(clock, 'r-2', 403, 'BROKER_ERR_POLICY_DENIED'))
  await clock.advance(30 * 60_000)
  log.record('sync-job', 'jira-main', failure(clock, 'r-3', 403, 'BROKER_ERR_POLICY_DENIED'))
  log.record('unauthenticated', 'jira-main', failure(clock, 'r-4', 401, 'BROKER_ERR_CALLER_UNAUTHENTICATED'))
  log.record('report-job', 'jira-main', failure(clock, 'r-5', 502, 'BROKER_ERR_UPSTREAM_UNAVAILABLE'))
  t.same(log.recent().map((entry) => entry.requestId), ['r-5', 'r-4', 'r-3', 'r-2'], 'newest first, the oldest dropped past the ring\'s size')
  t.same(log.recent()[1], { requestId: 'r-4', at: '2026-12-07T10:30:00.000Z', caller: 'unauthenticated', integration: 'jira-main', statusCode: 401, code: 'BROKER_ERR_CALLER_UNAUTHENTICATED', upstreamStatus: 0, seq: 3 })
  t.same(log.lastHour(), [
    { integration: 'jira-main', statusCode: 403, code: 'BROKER_ERR_POLICY_DENIED', count: 2 },
    { integration: 'jira-main', statusCode: 401, code: 'BROKER_ERR_CALLER_UNAUTHENTICATED', count: 1 },
    { integration: 'jira-main', statusCode: 404, code: null, count: 1 },
    { integration: 'jira-main', statusCode: 502, code: 'BROKER_ERR_UPSTREAM_UNAVAILABLE', count: 1 }
  ], 'most first, then by status')
  await clock.advance(31 * 60_000)
  t.same(log.lastHour(), [
    { integration: 'jira-main', statusCode: 401, code: 'BROKER_ERR_CALLER_UNAUTHENTICATED', count: 1 },
    { integration: 'jira-main', statusCode: 403, code: 'BROKER_ERR_POLICY_DENIED', count: 1 },
    { integration: 'jira-main', statusCode: 502, code: 'BROKER_ERR_UPSTREAM_UNAVAILABLE', count: 1 }
  ], 'the minute an hour old has left the counts')
})

t.test('a flood of unauthenticated 401s does not push the callers\' failures out of sight', async (t) => {
  const clock = new ManualClock(Date.parse('2026-12-07T10:00:00Z'))
  const log = new FailureLog({ clock })
  log.record('report-job', 'jira-main', failure(clock, 'real-1', 404))
  for (let i = 0; i < 500; i++) log.record('unauthenticated', 'jira-main', failure(clock, `junk-${i}`, 401, 'BROKER_ERR_CALLER_UNAUTHENTICATED'))
  const recent = log.recent()
  t.equal(recent.length, 11, 'ten unauthenticated kept, and the caller\'s')
  t.equal(recent.at(-1)?.requestId, 'real-1', 'the caller\'s failure is still there, oldest last')
  t.equal(recent[0]?.requestId, 'junk-499')
  t.same(log.lastHour(), [
    { integration: 'jira-main', statusCode: 401, code: 'BROKER_ERR_CALLER_UNAUTHENTICATED', count: 500 },
    { integration: 'jira-main', statusCode: 404, code: null, count: 1 }
  ], 'all counted')
})

t.test('minute counts reuse a slot an hour later and list 60 minutes, oldest first', async (t) => {
  const clock = new ManualClock(Date.parse('2026-12-07T10:00:00Z'))
  const counts = new MinuteCounts(clock)
  counts.add('a')
  counts.add('a')
  await clock.advance(60 * 60_000)
  counts.add('a')
  t.same([...counts.lastHour()], [['a', 1]], 'the same slot an hour later starts from zero')
  const minutes = counts.minutes()
  t.equal(minutes.length, 60)
  t.equal(minutes[59]?.counts.get('a'), 1)
  t.equal(minutes[0]?.counts.size, 0)
})

t.test('minute counts after the clock steps back: the hour\'s totals and its minutes agree', async (t) => {
  const clock = new ManualClock(Date.parse('2026-12-07T10:05:00Z'))
  const counts = new MinuteCounts(clock)
  counts.add('a')
  await clock.advance(-3 * 60_000)
  counts.add('b')
  t.same([...counts.lastHour()], [['b', 1]], 'a minute after now is not in the last hour')
  t.same(counts.minutes().flatMap(({ counts }) => [...counts.keys()]), ['b'], 'nor among its minutes')
})
