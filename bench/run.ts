/**
 * `npm run bench`: starts the local upstream, the bare passthrough and the broker, each in its own process, runs the
 * scenarios, prints a table and writes bench/results/latest.json.
 *
 *   --quick          a few seconds in all (tiny durations and sizes): CI's smoke run
 *   --only a,b       only these scenarios (hotpath, throughput, latency, herd, streaming, memory, scale, fleet,
 *                    footprint; fleet100, 100 simulated sidecars on one Redis, runs only when named here)
 *   --duration S     seconds per measured run (saturation, fixed rate, scale)
 *   --rounds N       alternating broker/baseline rounds per scenario (median reported)
 *   --rate R         requests per second of the latency scenario (default 2,000; 500 with --quick)
 *   --memory-budget S  seconds the memory scenario may spend sending (default 300): 1,000,000 requests to each of
 *                    broker and baseline need about 1,000,000 / rate of each
 *   --out FILE       where the JSON goes (default bench/results/latest.json)
 *   --compare FILE   add the comparison column of an earlier run (default: the previous latest.json)
 *   --cpu-prof DIR   V8 CPU profile of the long-lived broker during each scenario, DIR/SCENARIO.cpuprofile
 *                    (read them with `node dist/bench/profile.js FILE`)
 *   --no-pin         leave process placement to the scheduler instead of taskset
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { request } from 'undici'
import { requestsFor, trafficFor, type ConfigKind } from './broker-config.js'
import { spawnBroker } from './broker-process.js'
import { benchModule, canPin, ChildServer, pinSelf } from './processes.js'
import { describeMachine, formatNotes, formatTable, readReport, writeReport, type BenchReport } from './report.js'
import { fleet } from './scenarios/fleet.js'
import { fleet100 } from './scenarios/fleet100.js'
import { footprint } from './scenarios/footprint.js'
import { herd } from './scenarios/herd.js'
import { hotpath } from './scenarios/hotpath.js'
import { latency } from './scenarios/latency.js'
import { memory } from './scenarios/memory.js'
import { FULL, QUICK, type BenchContext, type Scenario, type Server } from './scenarios/scenario.js'
import { scale } from './scenarios/scale.js'
import { streaming } from './scenarios/streaming.js'
import { throughput } from './scenarios/throughput.js'
import type { UpstreamStats } from './upstream.js'

const SCENARIOS: Scenario[] = [hotpath, throughput, latency, herd, streaming, memory, scale, fleet, footprint, fleet100]

/** The repository root: bench/ under tsx, dist/bench/ when built. */
function repoRoot (): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir)
  return dir
}

async function main (): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      duration: { type: 'string' },
      rounds: { type: 'string' },
      rate: { type: 'string' },
      'memory-budget': { type: 'string' },
      out: { type: 'string' },
      compare: { type: 'string' },
      'cpu-prof': { type: 'string' },
      'no-pin': { type: 'boolean', default: false }
    },
    strict: true
  })
  const settings = { ...(values.quick ? QUICK : FULL) }
  if (values.duration !== undefined) {
    settings.durationS = Number(values.duration)
    if (!(settings.durationS > 0)) throw new Error('--duration takes a positive number of seconds')
  }
  if (values.rounds !== undefined) {
    settings.rounds = Number(values.rounds)
    if (!Number.isInteger(settings.rounds) || settings.rounds < 1) throw new Error('--rounds takes a whole number from 1')
  }
  if (values.rate !== undefined) {
    settings.latencyRate = Number(values.rate)
    if (!(settings.latencyRate >= 1)) throw new Error('--rate takes a number of requests per second')
  }
  if (values['memory-budget'] !== undefined) {
    settings.memoryBudgetS = Number(values['memory-budget'])
    if (!(settings.memoryBudgetS > 0)) throw new Error('--memory-budget takes a number of seconds')
  }
  const only = values.only?.split(',').map((name) => name.trim())
  const unknown = only?.filter((name) => !SCENARIOS.some((scenario) => scenario.name === name)) ?? []
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${SCENARIOS.map((scenario) => scenario.name).join(', ')}`)
  const selected = SCENARIOS.filter((scenario) =>
    only === undefined ? scenario.optIn !== true : only.includes(scenario.name))
  const out = path.resolve(values.out ?? path.join(repoRoot(), 'bench/results/latest.json'))
  const previous = readReport(values.compare ?? out)
  const log = (line: string): void => { process.stderr.write(`${line}\n`) }

  // Two cores: the proxy under test gets one to itself; the load generator (this process) and the upstream share the
  // other.
  const machine = describeMachine()
  const pin = !values['no-pin'] && canPin() && machine.nproc >= 2
  const cpus = { proxy: pin ? '1' : undefined, load: pin ? '0' : undefined }
  const placement = pin
    ? 'pinned with taskset: the proxy under test (broker or baseline, one at a time under load) on CPU 1; the load generator (wrk, or autocannon/undici in the orchestrator) and the upstream on CPU 0'
    : 'not pinned: the scheduler places the load generator, the upstream and the proxy under test'
  pinSelf(cpus.load)

  const profileDir = values['cpu-prof'] === undefined ? undefined : path.resolve(values['cpu-prof'])
  if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true })
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'atlassian-broker-bench-'))
  const logFile = '/dev/null'
  const children: Array<ChildServer<object>> = []
  const report: BenchReport = {
    version: 1,
    startedAt: new Date().toISOString(),
    mode: settings.quick ? 'quick' : 'full',
    machine,
    placement: `${placement}; broker logs every request at info to ${logFile}`,
    settings,
    scenarios: []
  }
  try {
    const upstreamChild = await ChildServer.start<{ url: string }>(benchModule('upstream'), { cpus: cpus.load })
    children.push(upstreamChild)
    const upstreamUrl = upstreamChild.ready.url
    const stats = async (): Promise<UpstreamStats> => await (await request(`${upstreamUrl}/__bench/stats`)).body.json() as UpstreamStats
    const reset = async (): Promise<void> => { await (await request(`${upstreamUrl}/__bench/reset`, { method: 'POST' })).body.dump() }

    const startBaseline = async (upstream = upstreamUrl): Promise<ChildServer<{ url: string }> & Server> => {
      const child = await ChildServer.start<{ url: string }>(benchModule('baseline'), { cpus: cpus.proxy, nodeArgs: ['--expose-gc'], args: [upstream] })
      children.push(child)
      return Object.assign(child, { url: child.ready.url })
    }
    const startBroker = async (
      kind: ConfigKind,
      overrides?: Record<string, unknown>
    ): Promise<Awaited<ReturnType<typeof spawnBroker>> & Server> => {
      const child = await spawnBroker(
        { kind, upstreamUrl, dataDir, logFile, ...(overrides ? { overrides } : {}) },
        { cpus: cpus.proxy }
      )
      children.push(child)
      return Object.assign(child, { url: child.ready.url })
    }

    const baseline = await startBaseline()
    const broker = await startBroker('small')
    // Warm token cache: one call per (caller, integration) before anything is measured.
    for (const call of requestsFor(trafficFor('small'))) {
      const response = await request(`${broker.url}${call.path}`, { headers: call.headers })
      const text = await response.body.text()
      if (response.statusCode !== 200) throw new Error(`warm-up call ${call.path} answered ${response.statusCode}: ${text}`)
    }
    log(`upstream ${upstreamUrl}, baseline ${baseline.url}, broker ${broker.url} (metrics: ${broker.ready.metrics}); token exchanges so far: ${(await stats()).exchanges}`)

    const context: BenchContext = {
      settings,
      upstream: { url: upstreamUrl, pid: upstreamChild.pid, stats, reset },
      broker,
      baseline,
      startBroker,
      startBaseline,
      cpus,
      log,
      profileDir
    }
    for (const scenario of selected) {
      log(`${scenario.name}: ${scenario.title}`)
      const started = performance.now()
      try {
        if (profileDir !== undefined) await broker.request('profile-start')
        report.scenarios.push({ name: scenario.name, title: scenario.title, ...await scenario.run(context) })
        if (profileDir !== undefined) {
          log(`  profile: ${(await broker.request<{ file: string }>('profile-stop', { file: path.resolve(profileDir, `${scenario.name}.cpuprofile`) })).file}`)
        }
      } catch (error) {
        log(`  failed: ${(error as Error).stack ?? String(error)}`)
        report.scenarios.push({ name: scenario.name, title: scenario.title, reference: '', metrics: [], notes: [], samples: {}, error: (error as Error).message })
      }
      log(`  (${((performance.now() - started) / 1000).toFixed(1)} s)`)
    }
  } finally {
    await Promise.all(children.map((child) => child.stop()))
    rmSync(dataDir, { recursive: true, force: true })
  }
  report.finishedAt = new Date().toISOString()
  report.machine.loadAverageAtEnd = os.loadavg().map((load) => Math.round(load * 100) / 100)
  writeReport(out, report)
  process.stdout.write(`\n${formatTable(report, previous)}\n\n${formatNotes(report)}\n\nJSON: ${path.relative(process.cwd(), out)}\n`)
  return report.scenarios.some((scenario) => scenario.error !== undefined) ? 1 : 0
}

main().then((code) => { process.exitCode = code }, (error: Error) => {
  process.stderr.write(`${error.stack ?? String(error)}\n`)
  process.exitCode = 1
})
