/**
 * The one per-minute tally: classification, the 60-minute ring, the totals of /admin/usage and the outcomes of the ops
 * view read from the same cells, one cap, one sort order, and the cell's text form for the fleet.
 */
import t from 'tap'
import { CALL_OUTCOMES, ERROR_OUTCOMES, RATE_LIMITED_OUTCOMES, callOutcome } from '../../src/usage/call-outcome.js'
import { LATENCY_BOUNDS_MS, LATENCY_BUCKETS, latencyBucket, latencyQuantile } from '../../src/usage/latency-histogram.js'
import { CELL_WIDTH, addCall, decodeCell, emptyCell, encodeCell, pointsIn, usageFigures } from '../../src/usage/tally-cell.js'
import { TALLY_MINUTES, UsageTally } from '../../src/usage/tally.js'
import { outcomeView, usageSnapshot } from '../../src/usage/tally-views.js'
import { ManualClock } from '../helpers/manual-clock.js'

interface Call {
  statusCode: number
  errorCode: string | undefined
  durationMs: number
  bytesIn: number
  bytesOut: number
  points?: number
}
const call = (overrides: Partial<Call> = {}): Call => ({
  statusCode: 200,
  errorCode: undefined,
  durationMs: 40,
  bytesIn: 0,
  bytesOut: 100,
  ...overrides
})

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
  t.same(ERROR_OUTCOMES, CALL_OUTCOMES.filter((outcome) => outcome !== 'ok'), 'an error is every outcome but ok')
  t.ok(RATE_LIMITED_OUTCOMES.every((outcome) => ERROR_OUTCOMES.includes(outcome)), 'a 429 is an error too')
})

t.test('histogram quantiles interpolate inside fixed buckets', async (t) => {
  const counts = new Float64Array(LATENCY_BUCKETS)
  t.equal(latencyQuantile(counts, 0.5), undefined)
  counts[latencyBucket(12)] = 90
  counts[latencyBucket(800)] = 10
  const p50 = latencyQuantile(counts, 0.5) ?? 0
  t.ok(p50 > 10 && p50 <= 15, `p50 ${p50} is in the 10-15 ms bucket`)
  const p95 = latencyQuantile(counts, 0.95) ?? 0
  t.ok(p95 > 700 && p95 <= 1_000, `p95 ${p95} is in the 700-1000 ms bucket`)
  counts[latencyBucket(500_000)] = 1
  t.equal(latencyQuantile(counts, 1), LATENCY_BOUNDS_MS.at(-1), 'beyond the last bound reports the last bound')
})

t.test('the usage totals: last 5 minutes, last hour and since start', async (t) => {
  const clock = new ManualClock(Date.parse('2026-11-23T12:00:30Z'))
  const tally = new UsageTally({ clock })
  tally.record('report-job', 'jira-main', call({ statusCode: 429, bytesIn: 10, points: 1 }))
  tally.record('report-job', 'jira-main', call({ statusCode: 502 }))
  tally.record('report-job', 'jira-main', call({ points: 51 }))
  tally.record('sync-job', 'jira-main', call())

  let snapshot = usageSnapshot(tally)
  t.same(snapshot.series.map((series) => `${series.caller}/${series.integration}`), ['report-job/jira-main', 'sync-job/jira-main'])
  const first = snapshot.series[0]
  t.same(first?.last5m, {
    requests: 3,
    errors: 2,
    rateLimited: 1,
    bytesIn: 10,
    bytesOut: 300,
    points: 52,
    p50Ms: first?.last5m.p50Ms,
    p95Ms: first?.last5m.p95Ms
  })
  t.ok((first?.last5m.p50Ms ?? 0) > 30 && (first?.last5m.p50Ms ?? 0) <= 50)
  t.same(first?.last1h, first?.last5m)
  t.same(first?.sinceStart, first?.last5m)

  await clock.advance(5 * 60_000)
  tally.record('report-job', 'jira-main', call())
  snapshot = usageSnapshot(tally)
  t.equal(snapshot.series[0]?.last5m.requests, 1, 'the first minute has left the 5-minute window')
  t.equal(snapshot.series[0]?.last1h.requests, 4)
  t.equal(snapshot.series[0]?.last1h.points, 52, 'points over the hour')
  t.equal(snapshot.series[0]?.last5m.points, 0)
  const byMinute = snapshot.series[0]?.pointsByMinute ?? []
  t.equal(byMinute.length, 60, 'points per minute over the hour')
  t.equal(byMinute[59 - 5], 52, 'in the minute they were spent, oldest first')
  t.equal(byMinute.reduce((sum, points) => sum + points, 0), 52)
  t.equal(snapshot.series[1]?.last5m.p50Ms, null, 'no calls: no percentile')

  await clock.advance(60 * 60_000)
  snapshot = usageSnapshot(tally)
  t.equal(snapshot.series[0]?.last1h.requests, 0, 'an hour later the ring is stale')
  t.equal(snapshot.series[0]?.sinceStart.requests, 4)
  tally.record('report-job', 'jira-main', call())
  t.equal(usageSnapshot(tally).series[0]?.last1h.requests, 1, 'a reused slot starts from zero')
  t.equal(snapshot.startedAt, '2026-11-23T12:00:30.000Z')
})

t.test('the outcomes per minute, last hour: counts land in their minute and age out after 60 minutes', async (t) => {
  const clock = new ManualClock(Date.parse('2026-12-04T10:00:30Z'))
  const tally = new UsageTally({ clock })
  tally.record('report-job', 'jira-main', call())
  tally.record('report-job', 'jira-main', call())
  tally.record('report-job', 'jira-main', call({ statusCode: 404 }))
  await clock.advance(60_000)
  tally.record('report-job', 'jira-main', call({ statusCode: 429, errorCode: 'BROKER_ERR_UPSTREAM_RATE_LIMITED' }))
  tally.record('sync-job', 'wiki-main', call({ statusCode: 503 }))

  let view = outcomeView(tally)
  t.equal(view.minutes.length, TALLY_MINUTES)
  t.equal(view.minutes.at(-1)?.minute, '2026-12-04T10:01:00.000Z', 'the current minute is last')
  t.match(view.minutes.at(-2), { minute: '2026-12-04T10:00:00.000Z', ok: 2, atlassianRefused: 1, total: 3 })
  t.match(view.minutes.at(-1), { quotaHeld: 1, failed: 1, total: 2 })
  t.equal(view.minutes.slice(0, -2).reduce((sum, minute) => sum + minute.total, 0), 0, 'older minutes are zeros')
  t.same(view.series.map((entry) => [entry.caller, entry.integration, entry.lastHour.total]), [['report-job', 'jira-main', 4], ['sync-job', 'wiki-main', 1]])
  t.same(view.callers, ['report-job', 'sync-job'])
  t.same(view.integrations, ['jira-main', 'wiki-main'])
  for (const outcome of CALL_OUTCOMES) t.type(view.minutes[0]?.[outcome], 'number', `every minute has ${outcome}`)

  t.equal(outcomeView(tally, { caller: 'sync-job' }).minutes.reduce((sum, minute) => sum + minute.total, 0), 1)
  t.same(outcomeView(tally, { integration: 'jira-main' }).series.map((entry) => entry.caller), ['report-job'])
  t.equal(outcomeView(tally, { caller: 'sync-job', integration: 'jira-main' }).series.length, 0)
  t.same(outcomeView(tally, { caller: 'sync-job' }).callers, ['report-job', 'sync-job'], 'the choices stay complete under a selection')

  await clock.advance(59 * 60_000)
  view = outcomeView(tally)
  t.match(view.series, [{ caller: 'report-job', lastHour: { quotaHeld: 1, total: 1 } }, { caller: 'sync-job', lastHour: { total: 1 } }], 'minute 10:00 has left the hour')
  await clock.advance(60_000)
  t.same(outcomeView(tally).series, [], 'an hour without calls shows nothing')
  tally.record('report-job', 'jira-main', call({ statusCode: 429, errorCode: 'BROKER_ERR_CALLER_RATE_LIMITED' }))
  t.match(outcomeView(tally).series, [{ lastHour: { callerLimited: 1, ok: 0, quotaHeld: 0, total: 1 } }], 'a reused slot starts from zero')
})

t.test('regression: /admin/usage and the ops view counted errors, capped series and sorted apart; one tally, one answer', async (t) => {
  const tally = new UsageTally({ clock: new ManualClock(), maxSeries: 3 })
  // The old usage window sorted with localeCompare ("a-job" before "B-job"), the ops view by code unit.
  for (const caller of ['a-job', 'B-job', 'c-job', 'd-job', 'e-job']) {
    tally.record(caller, 'jira-main', call())
    tally.record(caller, 'jira-main', call({ statusCode: 403, errorCode: 'BROKER_ERR_POLICY_DENIED' }))
  }
  const usage = usageSnapshot(tally)
  const outcomes = outcomeView(tally)
  t.same(usage.series.map((entry) => entry.caller), ['B-job', 'a-job', 'c-job', 'other'], 'one cap (then "other") and one order, code units')
  t.same(outcomes.series.map((entry) => entry.caller), usage.series.map((entry) => entry.caller), 'the ops view lists the same series')
  for (const [index, entry] of usage.series.entries()) {
    const counts = outcomes.series[index]?.lastHour
    t.equal(entry.last1h.requests, counts?.total)
    t.equal(entry.last1h.errors, ERROR_OUTCOMES.reduce((sum, outcome) => sum + (counts?.[outcome] ?? 0), 0), `${entry.caller}: errors are the outcomes but ok`)
  }
  t.match(usage.series.at(-1), { caller: 'other', last1h: { requests: 4, errors: 2 } }, 'no call is lost past the cap')
  t.equal(tally.size, 4, 'three named series plus other')
})

t.test('a cell as text for Redis: round trip, trailing zeros left out, garbage refused', async (t) => {
  const cell = emptyCell()
  addCall(cell, { outcome: 'ok', durationMs: 12, bytesIn: 5, bytesOut: 1_000_000_000_000, points: 0 })
  addCall(cell, { outcome: 'failed', durationMs: 90_000, bytesIn: 0, bytesOut: 0, points: 0 })
  const text = encodeCell(cell)
  t.same(decodeCell(text), cell)
  t.ok(text.split(',').length < CELL_WIDTH)
  t.same(usageFigures(decodeCell(text)!), usageFigures(cell))
  t.equal(decodeCell(encodeCell(emptyCell()))?.length, CELL_WIDTH)
  for (const garbage of ['', 'x,y', '1,-2', '1,,2', Array(CELL_WIDTH + 1).fill('1').join(',')]) t.equal(decodeCell(garbage), undefined, JSON.stringify(garbage.slice(0, 12)))
})

t.test('points are one figure of the cell: summed per minute in the ops view, carried through Redis text', async (t) => {
  const clock = new ManualClock(Date.parse('2026-11-23T12:00:30Z'))
  const tally = new UsageTally({ clock })
  tally.record('report-job', 'jira-main', call({ points: 51 }))
  tally.record('sync-job', 'jira-main', call({ points: 2 }))
  const view = outcomeView(tally)
  t.equal(view.minutes.at(-1)?.points, 53, 'the current minute holds both callers\' points')
  t.same(view.series.map((entry) => entry.pointsLastHour), [51, 2])
  t.equal(outcomeView(tally, { caller: 'sync-job' }).minutes.at(-1)?.points, 2, 'the selection applies')

  const cell = emptyCell()
  addCall(cell, { outcome: 'ok', durationMs: 12, bytesIn: 0, bytesOut: 0, points: 51 })
  t.equal(pointsIn(decodeCell(encodeCell(cell)) ?? emptyCell()), 51, 'the fleet text keeps the points')
  const older = encodeCell(cell).split(',').slice(0, CELL_WIDTH - 1).join(',')
  t.equal(pointsIn(decodeCell(older) ?? cell), 0, 'a cell an older sidecar wrote (without points) reads back with none')
})
