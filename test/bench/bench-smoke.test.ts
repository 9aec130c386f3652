/**
 * Smoke run of `npm run bench -- --quick` (CI's): two scenarios through the real processes (upstream, baseline, broker
 * children), checking the report's shape and that the cold herd made exactly one token exchange. No timed assertion:
 * figures from a shared machine say nothing about correctness. The bench runs from source through tsx, so the test
 * needs no earlier build (`npm install && npm test` on a fresh clone).
 */
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { runNode, type NodeRun } from '../helpers/run-node.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

interface Metric {
  name: string
  unit: string
  broker: number
  baseline: number | null
  compare: string
  value: number | null
  pass?: boolean
}
interface Report {
  version: number
  mode: string
  machine: { nproc: number, cpuModel: string, node: string }
  placement: string
  settings: { quick: boolean }
  scenarios: Array<{ name: string, reference: string, metrics: Metric[], notes: string[], error?: string }>
}

function runBench (args: string[]): Promise<NodeRun> {
  return runNode(['bench/run.ts', ...args], { cwd: ROOT })
}

t.test('bench --quick writes a comparable report; the herd made one exchange', async (t) => {
  const out = path.join(t.testdir({}), 'bench.json')
  const { code, output } = await runBench(['--quick', '--only', 'hotpath,throughput,latency,herd,footprint', '--out', out])
  if (code !== 0) t.comment(output)
  t.equal(code, 0, 'the bench exits 0')
  t.match(output, /\| 2\. throughput/, 'the table is printed')

  const report = JSON.parse(readFileSync(out, 'utf8')) as Report
  t.match(report, { version: 1, mode: 'quick', machine: { nproc: Number, cpuModel: String, node: process.version }, placement: String, settings: { quick: true } })
  const names = ['hotpath', 'throughput', 'latency', 'herd', 'footprint']
  t.same(report.scenarios.map((scenario) => scenario.name), names, 'only the scenarios asked for, in order')
  for (const scenario of report.scenarios) {
    t.equal(scenario.error, undefined, `${scenario.name} ran`)
    t.type(scenario.reference, 'string')
    t.ok(scenario.metrics.length > 0, `${scenario.name} has metrics`)
    for (const metric of scenario.metrics) {
      t.match(metric, { name: String, unit: String, broker: Number, compare: /^(ratio|difference)$/ }, `${scenario.name}: ${metric.name}`)
      if (metric.baseline !== null) t.equal(typeof metric.value, 'number', `${metric.name} is compared`)
    }
  }

  // The headline scenario: the real `serve` against nginx `return 200`, with both reference rows.
  const hotpath = report.scenarios.find((scenario) => scenario.name === 'hotpath')
  const hotRps = hotpath?.metrics.find((metric) => metric.name === 'requests/s')
  t.ok(hotRps !== undefined && hotRps.broker > 0 && hotRps.baseline !== null && hotRps.baseline > 0, 'serve and the bare passthrough answered')
  t.ok(hotpath?.metrics.some((metric) => metric.name === 'nginx proxy_pass: CPU per request'), 'the nginx proxy_pass row')
  t.ok(hotpath?.metrics.some((metric) => metric.name === 'bare passthrough, Node upstream: CPU per request'), 'the Node-upstream row')
  t.match(hotpath?.notes.join(' '), /serve --config.*per-request log line at info to a file \((?!0 kB)/, 'serve logged to its file')

  const throughput = report.scenarios.find((scenario) => scenario.name === 'throughput')
  const rps = throughput?.metrics.find((metric) => metric.unit === 'req/s')
  t.ok(rps !== undefined && rps.broker > 0 && rps.baseline !== null && rps.baseline > 0, 'both sides answered requests')

  const herd = report.scenarios.find((scenario) => scenario.name === 'herd')
  const exchanges = herd?.metrics.find((metric) => metric.name === 'token exchanges')
  t.equal(exchanges?.broker, 1, 'a cold herd makes exactly one client-credentials exchange')
  t.equal(exchanges?.pass, true)

  // hey is used when the machine has it (the bench installs it as root, as CI runs); autocannon otherwise.
  const latency = report.scenarios.find((scenario) => scenario.name === 'latency')
  const generator = existsSync('/usr/bin/hey') ? /hey, 10 workers/ : /autocannon/
  t.match(latency?.notes.join(' '), generator, 'the notes name the load generator used')
  const p99 = latency?.metrics.find((metric) => metric.name.startsWith('p99'))
  t.ok(p99 !== undefined && p99.broker > 0 && (p99.baseline ?? 0) > 0, 'both sides have a p99')

  const footprint = report.scenarios.find((scenario) => scenario.name === 'footprint')
  const ready = footprint?.metrics.find((metric) => metric.name === 'spawn to /readyz 200')
  const uncached = footprint?.metrics.find((metric) => metric.name === 'spawn to /readyz 200, no compile cache')
  t.ok(ready !== undefined && ready.broker > 0 && uncached !== undefined && uncached.broker > 0, 'starts with and without the compile cache were timed')
  // Regression: on a fresh clone (no `npm run build`) the footprint scenario spawned dist/src/cli/main.js, which did
  // not exist, and failed "process exited 1 before it was ready". From source it starts src/cli/main.ts through tsx.
  t.match(footprint?.notes.join(' '), /the CLI from source through tsx/, 'the smoke run needs no build and says so')
})
