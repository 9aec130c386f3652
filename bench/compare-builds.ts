/**
 * Two builds of the broker side by side, for "what did this change buy": both brokers pinned to the same core, each
 * driven by its own wrk at the same time, so whatever else the machine does falls on both alike. Reports the median
 * of the per-round ratio of CPU time per request (B / A), which the shared machine's noise moves far less than
 * requests/s. A and B are repository roots that have been built (`npm run build`), e.g. a `git archive` of the
 * commit before the change.
 *
 *   node dist/bench/compare-builds.js A_ROOT B_ROOT [--rounds 8] [--duration 3] [--connections 50]
 *     [--node-args-b=--max-semi-space-size=2]   (A and B may be the same root: what a Node flag costs)
 *     [--hotpath]   the hot-path scenario's set-up (bench/scenarios/hotpath.ts): each root's real `serve`, logging to
 *                   a file, one path, before nginx `return 200`; without it, the bench broker child and the 16-call mix
 *                   before the Node upstream
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { request } from 'undici'
import { callerToken, HOT_CALLER, HOT_INTEGRATION, HOT_PATH, hotPathConfigInput, requestsFor, trafficFor } from './broker-config.js'
import { startNginxUpstream } from './nginx.js'
import { ChildServer, benchModule, canPin, freePort, pinSelf } from './processes.js'
import { builtCli, startServe } from './serve-process.js'
import { smallBody } from './upstream.js'
import { median } from './scenarios/scenario.js'
import { ensureWrk, wrkSaturate } from './wrk.js'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: 'string', default: '8' }, duration: { type: 'string', default: '3' }, connections: { type: 'string', default: '50' }, 'node-args-b': { type: 'string', default: '' }, hotpath: { type: 'boolean', default: false } }
})
const [rootA, rootB] = positionals
if (rootA === undefined || rootB === undefined) throw new Error('usage: compare-builds A_ROOT B_ROOT')
const wrk = ensureWrk((line) => process.stderr.write(`${line}\n`))
if (wrk === undefined) throw new Error('compare-builds needs wrk')
const pin = canPin() && os.availableParallelism() >= 2
pinSelf(pin ? '0' : undefined)
const cpus = { proxy: pin ? '1' : undefined, load: pin ? '0' : undefined }
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'atlassian-broker-compare-'))
const stops: Array<() => Promise<void>> = []
interface Broker { url: string, pid: number }
try {
  let start: (root: string, name: string, nodeArgs?: string[]) => Promise<Broker>
  let calls: Array<{ method: string, path: string, headers: Record<string, string> }>
  if (values.hotpath) {
    const upstream = await startNginxUpstream(smallBody().toString(), { cpus: cpus.load })
    stops.push(upstream.stop)
    calls = [{ method: 'GET', path: HOT_PATH, headers: { authorization: `Bearer ${callerToken(HOT_CALLER)}` } }]
    start = async (root, name, nodeArgs = []) => {
      const dir = path.join(dataDir, name)
      mkdirSync(dir)
      const config = hotPathConfigInput({ upstreamUrl: upstream.url, dataDir: dir, port: await freePort() })
      const cli = [builtCli(path.resolve(root))]
      const serve = await startServe(config, { configFile: path.join(dir, 'broker.yaml'), credentials: [HOT_INTEGRATION], cpus: cpus.proxy, logFile: path.join(dir, 'broker.log'), nodeArgs, cli })
      stops.unshift(serve.stop)
      return serve
    }
  } else {
    const upstream = await ChildServer.start<{ url: string }>(benchModule('upstream'), { cpus: cpus.load })
    stops.push(async () => { await upstream.stop() })
    calls = requestsFor(trafficFor('small'))
    start = async (root, name, nodeArgs = []) => {
      const settings = { kind: 'small', upstreamUrl: upstream.ready.url, dataDir: path.join(dataDir, name), logFile: '/dev/null' }
      const child = await ChildServer.start<{ url: string }>(path.resolve(root, 'dist/bench/broker-process.js'), { cpus: cpus.proxy, nodeArgs, env: { BENCH_BROKER: JSON.stringify(settings) } })
      stops.unshift(async () => { await child.stop() })
      return { url: child.ready.url, pid: child.pid }
    }
  }
  const a = await start(rootA, 'a')
  const b = await start(rootB, 'b', values['node-args-b'].split(' ').filter((arg) => arg !== ''))
  for (const broker of [a, b]) {
    for (const call of calls) await (await request(`${broker.url}${call.path}`, { headers: call.headers })).body.dump()
  }
  const durationS = Number(values.duration)
  const connections = Number(values.connections)
  const ratios: number[] = []
  for (let round = 0; round < Number(values.rounds); round++) {
    const [ra, rb] = await Promise.all(
      [a, b].map(
        async (broker) =>
          await wrkSaturate(wrk, broker.url, calls, {
            durationS,
            connections,
            pids: [broker.pid],
            cpus: cpus.load
          })
      )
    )
    if (ra === undefined || rb === undefined) throw new Error('a run gave no result')
    ratios.push(rb.cpuMicrosPerRequest / ra.cpuMicrosPerRequest)
    process.stderr.write(`round ${round + 1}: A ${Math.round(ra.cpuMicrosPerRequest)} µs/request ${Math.round(ra.requestsPerSecond)} req/s; B ${Math.round(rb.cpuMicrosPerRequest)} µs/request ${Math.round(rb.requestsPerSecond)} req/s; B/A ${(rb.cpuMicrosPerRequest / ra.cpuMicrosPerRequest).toFixed(3)}\n`)
  }
  process.stdout.write(`CPU per request, B / A: median ${median(ratios).toFixed(3)} over ${ratios.length} rounds (min ${Math.min(...ratios).toFixed(3)}, max ${Math.max(...ratios).toFixed(3)})\n`)
} finally {
  for (const stop of stops) await stop()
  rmSync(dataDir, { recursive: true, force: true })
}
