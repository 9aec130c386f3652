import t from 'tap'
import { LatencyHistogram, LATENCY_BOUNDS_MS } from '../../src/usage/latency-histogram.js'
import { UsageWindow, type UsageEvent } from '../../src/usage/usage-window.js'
import { ManualClock } from '../helpers/manual-clock.js'

const event = (overrides: Partial<UsageEvent> = {}): UsageEvent => ({
  caller: 'report-job', integration: 'jira-main', statusCode: 200, durationMs: 40, bytesIn: 0, bytesOut: 100, ...overrides
})

t.test('histogram quantiles interpolate inside fixed buckets and merge', async (t) => {
  const histogram = new LatencyHistogram()
  t.equal(histogram.quantile(0.5), undefined)
  for (let i = 0; i < 90; i++) histogram.add(12)
  for (let i = 0; i < 10; i++) histogram.add(800)
  const p50 = histogram.quantile(0.5) ?? 0
  t.ok(p50 > 10 && p50 <= 15, `p50 ${p50} is in the 10-15 ms bucket`)
  const p95 = histogram.quantile(0.95) ?? 0
  t.ok(p95 > 700 && p95 <= 1_000, `p95 ${p95} is in the 700-1000 ms bucket`)
  const other = new LatencyHistogram()
  other.add(500_000)
  histogram.merge(other)
  t.equal(histogram.count, 101)
  t.equal(histogram.quantile(1), LATENCY_BOUNDS_MS.at(-1), 'beyond the last bound reports the last bound')
})

t.test('per-minute ring: last 5 minutes, last hour and since start', async (t) => {
  const clock = new ManualClock(Date.parse('2026-11-23T12:00:30Z'))
  const window = new UsageWindow({ clock })
  window.record(event({ statusCode: 429, bytesIn: 10 }))
  window.record(event({ statusCode: 502 }))
  window.record(event())
  window.record(event({ caller: 'sync-job' }))

  let snapshot = window.snapshot()
  t.same(snapshot.series.map((series) => `${series.caller}/${series.integration}`), ['report-job/jira-main', 'sync-job/jira-main'])
  const first = snapshot.series[0]
  t.same(first?.last5m, {
    requests: 3,
    errors: 2,
    rateLimited: 1,
    bytesIn: 10,
    bytesOut: 300,
    p50Ms: first?.last5m.p50Ms,
    p95Ms: first?.last5m.p95Ms
  })
  t.ok((first?.last5m.p50Ms ?? 0) > 30 && (first?.last5m.p50Ms ?? 0) <= 50)
  t.same(first?.last1h, first?.last5m)
  t.same(first?.sinceStart, first?.last5m)

  await clock.advance(5 * 60_000)
  window.record(event())
  snapshot = window.snapshot()
  t.equal(snapshot.series[0]?.last5m.requests, 1, 'the first minute has left the 5-minute window')
  t.equal(snapshot.series[0]?.last1h.requests, 4)
  t.equal(snapshot.series[1]?.last5m.p50Ms, null, 'no calls: no percentile')

  await clock.advance(60 * 60_000)
  snapshot = window.snapshot()
  t.equal(snapshot.series[0]?.last1h.requests, 0, 'an hour later the ring is stale')
  t.equal(snapshot.series[0]?.sinceStart.requests, 4)
  window.record(event())
  t.equal(window.snapshot().series[0]?.last1h.requests, 1, 'a reused slot starts from zero')
  t.equal(snapshot.startedAt, '2026-11-23T12:00:30.000Z')
})
