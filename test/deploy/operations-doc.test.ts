/** docs/operations.md names only metrics the broker exports, with the labels it aggregates by. */
import { readFileSync } from 'node:fs'
import t from 'tap'
import { exportedMetrics } from '../helpers/exported-metrics.js'

const doc = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8')
const exported = await exportedMetrics()

t.test('every metric the operations guide names is exported', async (t) => {
  const named = new Set([...doc.matchAll(/atlassian_broker_[a-z0-9_]+/g)].map(([name]) => name.replace(/_(bucket|sum|count)$/, (suffix, _kind, offset: number, whole: string) =>
    exported.get(whole.slice(0, offset)) === 'histogram' ? '' : suffix)))
  t.ok(named.size >= 4, [...named].join(', '))
  for (const name of named) t.ok(exported.has(name), `${name} is exported`)
})

t.test('the fleet-wide per-caller query is the one the guide promises', async (t) => {
  t.match(doc, 'sum by (caller) (rate(atlassian_broker_requests_total[5m]))')
  t.match(doc, /3600 \/ \(token lifetime − refresh margin\)/)
})
