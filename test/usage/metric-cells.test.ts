/**
 * Cell metrics against prom-client itself: the same updates through a prom-client Counter or Histogram and through a
 * cell, each in a registry of its own, must scrape to the same text, bucket edges and the overflow bucket included.
 */
import t from 'tap'
import { Counter, Histogram, Registry } from '../../src/usage/prom-parts.js'
import { CellCounter, CellHistogram } from '../../src/usage/metric-cells.js'

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

t.test('a cell histogram scrapes as prom-client\'s own for the same observations', async (t) => {
  const theirs = new Registry()
  const ours = new Registry()
  const reference = new Histogram({ name: 'x_seconds', help: 'h', labelNames: ['caller', 'integration'], buckets: BUCKETS, registers: [theirs] })
  const cells = new CellHistogram({ name: 'x_seconds', help: 'h', labelNames: ['caller', 'integration'], registry: ours, buckets: BUCKETS })
  const report = cells.cell({ caller: 'report-job', integration: 'jira-main' })
  const sync = cells.cell({ integration: 'wiki', caller: 'sync-job' })
  // Edges (a value equal to a bound is in it), the overflow bucket, zero, and a spread of ordinary values.
  const spread = Array.from({ length: 200 }, (_, i) => (i * 7919 % 1000) / 137)
  const values = [0, 0.005, 0.0051, 0.01, 0.3, 1, 59.9, 60, 61, 3600, ...spread]
  values.forEach((value, index) => {
    const labels = index % 3 === 1 ? { caller: 'sync-job', integration: 'wiki' } : { caller: 'report-job', integration: 'jira-main' }
    reference.observe(labels, value)
    cells.observe(index % 3 === 1 ? sync : report, value)
  })
  t.equal(await ours.metrics(), await theirs.metrics())
  t.equal(cells.cell({ caller: 'report-job', integration: 'jira-main' }), report, 'the same labels find the same cell')
})

t.test('a cell counter scrapes as prom-client\'s own; reset zeroes the cells their users keep', async (t) => {
  const theirs = new Registry()
  const ours = new Registry()
  const reference = new Counter({ name: 'calls_total', help: 'c', labelNames: ['caller', 'result'], registers: [theirs] })
  const cells = new CellCounter({ name: 'calls_total', help: 'c', labelNames: ['caller', 'result'], registry: ours })
  const hit = cells.cell({ caller: 'a', result: 'hit' })
  const miss = cells.cell({ caller: 'a', result: 'miss' })
  for (let i = 0; i < 5; i++) { reference.inc({ caller: 'a', result: 'hit' }); hit.value++ }
  reference.inc({ caller: 'a', result: 'miss' }, 2.5)
  miss.value += 2.5
  t.equal(await ours.metrics(), await theirs.metrics())
  ours.resetMetrics()
  hit.value++
  t.match(await ours.metrics(), /^calls_total\{caller="a",result="hit"\} 1$/m, 'the kept cell counts on from zero')
  t.match(await ours.metrics(), /^calls_total\{caller="a",result="miss"\} 0$/m)
})

t.test('a value that is not a number is not observed (prom-client throws; a call record must not)', async (t) => {
  const registry = new Registry()
  const cells = new CellHistogram({ name: 'y_seconds', help: 'h', labelNames: ['caller'], registry, buckets: [1] })
  const cell = cells.cell({ caller: 'a' })
  cells.observe(cell, Number.NaN)
  cells.observe(cell, Number.POSITIVE_INFINITY)
  cells.observe(cell, 0.5)
  t.same({ counts: cell.counts, sum: cell.sum, count: cell.count }, { counts: [1, 0], sum: 0.5, count: 1 })
})

t.test('two metrics of one name in one registry are refused, as prom-client refuses them', async (t) => {
  const registry = new Registry()
  t.doesNotThrow(() => new CellCounter({ name: 'z_total', help: 'z', labelNames: ['a'], registry }))
  t.throws(() => new CellCounter({ name: 'z_total', help: 'z', labelNames: ['a'], registry }), /already been registered/)
})
