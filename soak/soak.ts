/**
 * The soak (docs/security.md, "Soak"): a bounded run of mixed traffic with injected faults against a broker in its own
 * process, then a verdict: no error beyond the injected ones, no memory growth, no file-descriptor or handle growth.
 * Not part of CI (ten minutes); run it before a release:
 *
 *   npm run soak                                        # 600 s, results in soak/results/soak-<date>.json
 *   npm run soak -- --duration 60 --out /tmp/soak.json
 *   npm run soak -- --snapshots /tmp/heap                 # heap snapshots after warm-up and at the end, to diff
 *
 * It shares the child-process plumbing with the benchmarks (bench/processes.ts) and the fake Atlassian and Vault with
 * the tests (test/helpers/): test doubles stay under test/.
 *
 * Exit code 0 when every check passed, 1 otherwise. Memory is judged on the heap after a full GC (the child runs with
 * --expose-gc), sampled every 10 s after a one-minute warm-up: the median of the last two minutes against the median
 * of the two minutes after warm-up, plus the least-squares slope over the whole run.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { request } from 'undici'
import { ChildServer } from '../bench/processes.js'
import type { SoakBrokerSettings, SoakSample } from './soak-broker.js'
import { ADMIN_ROLE, CALLER_SECRET, runSchedule, startWorld } from './faults.js'
import { createTraffic, type Outcome } from './traffic.js'

/** A sibling module of this one, with this file's extension (`.ts` under tsx, `.js` when built). */
function soakModule (name: string): string {
  const here = fileURLToPath(import.meta.url)
  return path.join(path.dirname(here), `${name}${path.extname(here)}`)
}

const WORKERS = 12
const SAMPLE_EVERY_MS = 10_000
const LIMITS = { heapGrowthBytes: 8 * 1024 * 1024, heapSlopeBytesPerMin: 512 * 1024, fdGrowth: 8, handleGrowth: 8 }

interface TimedSample extends SoakSample { atMs: number, requests: number }

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted.length === 0 ? NaN : sorted[Math.floor(sorted.length / 2)] as number
}

function slopePerMinute (points: Array<[number, number]>): number {
  const n = points.length
  if (n < 2) return 0
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / n
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / n
  const num = points.reduce((sum, [x, y]) => sum + (x - meanX) * (y - meanY), 0)
  const den = points.reduce((sum, [x]) => sum + (x - meanX) ** 2, 0)
  return den === 0 ? 0 : (num / den) * 60_000
}

async function main (): Promise<number> {
  const { values } = parseArgs({ options: { duration: { type: 'string', default: '600' }, out: { type: 'string' }, snapshots: { type: 'string' } }, strict: true })
  const durationMs = Number(values.duration) * 1000
  if (!(durationMs >= 30_000)) throw new Error('--duration takes at least 30 seconds')
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
  const out = path.resolve(values.out ?? path.join(root, 'soak/results', `soak-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}.json`))
  const logFile = path.join(os.tmpdir(), `atlassian-broker-soak-${process.pid}.log`)
  const log = (line: string): void => { process.stderr.write(`[soak ${((Date.now() - startedAt) / 1000).toFixed(0).padStart(4)} s] ${line}\n`) }
  let startedAt = Date.now()

  const world = await startWorld()
  const settings: SoakBrokerSettings = { config: world.config, logFile }
  const snapshots = values.snapshots === undefined ? [] : ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${path.resolve(values.snapshots)}`]
  if (values.snapshots !== undefined) mkdirSync(values.snapshots, { recursive: true })
  const broker = await ChildServer.start<{ url: string }>(soakModule('soak-broker'), { nodeArgs: ['--expose-gc', ...snapshots], env: { SOAK_BROKER: JSON.stringify(settings) } })
  const url = broker.ready.url
  startedAt = Date.now()
  log(`broker pid ${broker.pid} at ${url}; ${WORKERS} workers for ${durationMs / 1000} s`)
  const traffic = createTraffic(world, { url, callerSecret: CALLER_SECRET, adminRole: ADMIN_ROLE, startedAt })
  const schedule = runSchedule(world, {
    startedAt,
    everyMs: 90_000,
    windowMs: 15_000,
    lastStartMs: durationMs - 75_000,
    log,
    dropToken: async () => {
      const { createSigner } = await import('fast-jwt')
      const token = createSigner({ key: CALLER_SECRET, algorithm: 'HS256', expiresIn: 60_000 })({ sub: 'soak-admin', aud: 'atlassian-broker', roles: [ADMIN_ROLE] })
      const response = await request(`${url}/admin/integrations/jira-faulty/token`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })
      await response.body.dump()
    }
  })

  const counts = new Map<string, Map<string, { verdict: string, count: number }>>()
  const unexpected: Outcome[] = []
  let requests = 0
  const record = (outcome: Outcome): void => {
    requests++
    let byLabel = counts.get(outcome.op)
    if (!byLabel) counts.set(outcome.op, byLabel = new Map())
    const entry = byLabel.get(outcome.label) ?? { verdict: outcome.verdict, count: 0 }
    entry.count++
    byLabel.set(outcome.label, entry)
    // Recovery time of each token fault window: the first success on jira-faulty after the window closed.
    if (outcome.op.startsWith('faulty') && outcome.label === '200') {
      for (const window of world.tokenWindows) {
        if (window.endMs > 0 && window.recoveredAfterMs === undefined && outcome.atMs >= window.endMs) {
          window.recoveredAfterMs = outcome.atMs - window.endMs
        }
      }
    }
    if (outcome.verdict === 'unexpected') {
      unexpected.push(outcome)
      if (unexpected.length <= 20) log(`UNEXPECTED ${outcome.op}: ${outcome.label}`)
    }
  }

  const samples: TimedSample[] = []
  const takeSample = async (): Promise<void> => {
    const sample = await broker.request<SoakSample & { type: string, id: number }>('sample')
    const { type: _type, id: _id, ...rest } = sample
    samples.push({ ...rest, atMs: Date.now() - startedAt, requests })
    log(`${requests} requests; heap ${(rest.heapUsed / 1048576).toFixed(1)} MB, rss ${(rest.rss / 1048576).toFixed(0)} MB, fds ${rest.fds}, handles ${rest.handles}; unexpected ${unexpected.length}`)
  }
  await takeSample()
  const sampler = setInterval(() => { void takeSample() }, SAMPLE_EVERY_MS)
  // After warm-up and just before the end: two heap snapshots whose difference shows what grew, if anything did.
  const snapshotTimers = snapshots.length === 0 ? [] : [90_000, durationMs - 15_000].map((atMs) => setTimeout(() => { broker.child.kill('SIGUSR2'); log('heap snapshot requested') }, atMs))

  const deadline = startedAt + durationMs
  await Promise.all(Array.from({ length: WORKERS }, async () => {
    while (Date.now() < deadline) record(await traffic.run(traffic.pick()))
  }))
  clearInterval(sampler)
  for (const timer of snapshotTimers) clearTimeout(timer)
  schedule.stop()
  await new Promise((resolve) => setTimeout(resolve, 2_000))
  await takeSample()
  await traffic.close()
  const stopStarted = Date.now()
  await broker.stop()
  const stopMs = Date.now() - stopStarted
  const exitCode = broker.child.exitCode
  await world.close()

  // Verdicts
  const warm = samples.filter((sample) => sample.atMs >= 60_000)
  const early = warm.filter((sample) => sample.atMs < 180_000)
  const late = warm.filter((sample) => sample.atMs >= (samples.at(-1)?.atMs ?? 0) - 120_000)
  const figure = (key: 'heapUsed' | 'rss' | 'fds' | 'handles' | 'external'): { early: number, late: number, growth: number } => {
    const before = median(early.map((sample) => sample[key]))
    const after = median(late.map((sample) => sample[key]))
    return { early: before, late: after, growth: after - before }
  }
  const heap = figure('heapUsed')
  const heapSlope = slopePerMinute(warm.map((sample) => [sample.atMs, sample.heapUsed]))
  const fds = figure('fds')
  const handles = figure('handles')
  const logText = (() => { try { return readFileSync(logFile, 'utf8') } catch { return '' } })()
  const unexpectedLogs = logText.split('\n').filter((line) => line.includes('"unexpected error"') || line.includes('"level":"fatal"'))
  const checks = {
    noUnexpectedAnswers: unexpected.length === 0,
    noUnexpectedErrorLogs: unexpectedLogs.length === 0,
    heapFlat: heap.growth < LIMITS.heapGrowthBytes && heapSlope < LIMITS.heapSlopeBytesPerMin,
    fdsFlat: fds.growth <= LIMITS.fdGrowth,
    handlesFlat: handles.growth <= LIMITS.handleGrowth,
    cleanStop: exitCode === 0,
    // Every closed window was followed by a success within the allowance (the broker's backoff, at most 60 s here).
    tokenWindowsRecovered: world.tokenWindows.every(
      (window) => window.endMs > 0 && (window.recoveredAfterMs ?? Infinity) <= 60_000
    )
  }
  const passed = Object.values(checks).every(Boolean)
  const report = {
    version: 1,
    kind: 'soak',
    at: new Date(startedAt).toISOString(),
    durationS: durationMs / 1000,
    machine: { node: process.version, cpus: os.cpus().length, platform: `${os.platform()} ${os.release()}` },
    workers: WORKERS,
    requests,
    requestsPerSecond: Math.round(requests / (durationMs / 1000)),
    passed,
    checks,
    limits: LIMITS,
    figures: {
      heapUsedMB: {
        early: heap.early / 1048576,
        late: heap.late / 1048576,
        growth: heap.growth / 1048576,
        slopePerMin: heapSlope / 1048576
      },
      rssMB: Object.fromEntries(Object.entries(figure('rss')).map(([key, value]) => [key, value / 1048576])),
      externalMB: Object.fromEntries(Object.entries(figure('external')).map(([key, value]) => [key, value / 1048576])),
      fds,
      handles,
      stopMs,
      logLines: {
        warn: (logText.match(/"level":"warn"/g) ?? []).length,
        error: (logText.match(/"level":"error"/g) ?? []).length,
        unexpected: unexpectedLogs.length
      }
    },
    faults: { tokenWindows: world.tokenWindows, vaultWindows: world.vaultWindows, wikiRevocations: world.revocations },
    outcomes: Object.fromEntries(
      [...counts].map(([op, byLabel]) => [op, Object.fromEntries([...byLabel].map(([label, entry]) => [label, entry]))])
    ),
    unexpected: unexpected.slice(0, 50),
    unexpectedLogs: unexpectedLogs.slice(0, 20),
    samples
  }
  mkdirSync(path.dirname(out), { recursive: true })
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`)
  log(`${passed ? 'PASSED' : 'FAILED'}: ${JSON.stringify(checks)}`)
  log(`heap ${report.figures.heapUsedMB.early.toFixed(1)} -> ${report.figures.heapUsedMB.late.toFixed(1)} MB (slope ${report.figures.heapUsedMB.slopePerMin.toFixed(3)} MB/min), fds ${fds.early} -> ${fds.late}, handles ${handles.early} -> ${handles.late}, ${requests} requests (${report.requestsPerSecond}/s)`)
  log(`results in ${out}`)
  return passed ? 0 : 1
}

process.exitCode = await main()
