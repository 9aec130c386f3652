/**
 * Scenario "hotpath", the headline throughput figure (issue 26): what the broker adds to one proxied call when
 * neither the upstream nor the load generator is the limit. The upstream is nginx `return 200` with the ~1 KB issue
 * body (keep-alive, Content-Length, one process); one path, one caller JWT reused, 41 policy rules, one integration;
 * the broker is the real `serve` command logging each request at info to a file; wrk -t1 -c50. Rows, rotating each
 * round: the broker, the bare node:http + undici Pool passthrough (reference), nginx `proxy_pass`, and the same bare
 * passthrough in front of the Node upstream (bench/upstream.ts) that the other scenarios use, which shows why their
 * baseline pays more per request: a Node upstream sharing a core with wrk answers in small batches, and every
 * event-loop turn's fixed cost then falls on fewer requests.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { callerToken, HOT_CALLER, HOT_INTEGRATION, HOT_PATH, hotPathConfigInput } from '../broker-config.js'
import { hasNginx, startNginx, startNginxUpstream } from '../nginx.js'
import { freePort } from '../processes.js'
import { cliCommand, startServe } from '../serve-process.js'
import { smallBody } from '../upstream.js'
import { ensureWrk, wrkSaturate, type WrkResult } from '../wrk.js'
import { median, metric, type Metric, type Scenario } from './scenario.js'

type Row = 'broker' | 'baseline' | 'nginx' | 'nodeUpstream'

const LABELS: Record<Row, string> = {
  broker: 'broker (serve)',
  baseline: 'bare passthrough',
  nginx: 'nginx proxy_pass',
  nodeUpstream: 'bare passthrough, Node upstream'
}

export const hotpath: Scenario = {
  name: 'hotpath',
  title: 'Hot path: one small GET at saturation, nginx upstream, the real `serve`',
  async run ({ settings, baseline: nodeUpstreamBaseline, startBaseline, cpus, log, profileDir }) {
    const wrk = ensureWrk(log)
    if (wrk === undefined || !hasNginx()) throw new Error('the hot-path scenario needs wrk and nginx')
    const dir = mkdtempSync(path.join(os.tmpdir(), 'atlassian-broker-hotpath-'))
    // The upstream shares the load generator's core: nginx needs a few µs per answer, wrk about as much.
    const upstream = await startNginxUpstream(smallBody().toString(), { cpus: cpus.load })
    const stops: Array<() => Promise<void>> = [upstream.stop]
    try {
      const logFile = path.join(dir, 'broker.log')
      const config = hotPathConfigInput({ upstreamUrl: upstream.url, dataDir: dir, port: await freePort() })
      const broker = await startServe(config, {
        configFile: path.join(dir, 'atlassian-broker.yaml'),
        credentials: [HOT_INTEGRATION],
        cpus: cpus.proxy,
        logFile,
        ...(profileDir === undefined ? {} : { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--cpu-prof-name=hotpath-serve.cpuprofile'] })
      })
      stops.unshift(broker.stop)
      const baseline = await startBaseline(upstream.url)
      const nginx = await startNginx(upstream.url, { cpus: cpus.proxy })
      stops.unshift(nginx.stop)
      const calls = [{ method: 'GET', path: HOT_PATH, headers: { authorization: `Bearer ${callerToken(HOT_CALLER)}` } }]
      const targets: Array<{ row: Row, url: string, pid: number }> = [
        { row: 'broker', url: broker.url, pid: broker.pid },
        { row: 'baseline', url: baseline.url, pid: baseline.pid },
        { row: 'nginx', url: nginx.url, pid: nginx.pid },
        { row: 'nodeUpstream', url: nodeUpstreamBaseline.url, pid: nodeUpstreamBaseline.pid }
      ]
      const once = async (target: (typeof targets)[number], durationS: number): Promise<WrkResult> =>
        await wrkSaturate(wrk, target.url, calls, { durationS, connections: 50, pids: [target.pid], cpus: cpus.load })
      // Warm-up: the token exchange, JIT, pools' connections.
      for (const target of targets) await once(target, settings.warmupS)
      const runs: Record<Row, WrkResult[]> = { broker: [], baseline: [], nginx: [], nodeUpstream: [] }
      for (let round = 0; round < settings.rounds; round++) {
        for (let k = 0; k < targets.length; k++) {
          const target = targets[(round + k) % targets.length] as (typeof targets)[number]
          const result = await once(target, settings.durationS)
          log(`  ${LABELS[target.row].padEnd(32)} ${Math.round(result.requestsPerSecond)} req/s, ${Math.round(result.cpuMicrosPerRequest)} µs CPU/request (busy ${result.serverCpu.toFixed(2)} cores)`)
          runs[target.row].push(result)
        }
      }
      const of = (row: Row, key: keyof WrkResult): number => median(runs[row].map((run) => run[key]))
      const versus = (row: Row): Metric[] => [
        metric(`${LABELS[row]}: requests/s`, 'req/s', of(row, 'requestsPerSecond'), of('baseline', 'requestsPerSecond'), 'ratio'),
        metric(`${LABELS[row]}: CPU per request`, 'µs', of(row, 'cpuMicrosPerRequest'), of('baseline', 'cpuMicrosPerRequest'), 'ratio'),
        metric(`${LABELS[row]}: busy`, 'cores', of(row, 'serverCpu'), of('baseline', 'serverCpu'), 'ratio')
      ]
      const logged = statSync(logFile).size
      const busy = Math.min(of('broker', 'serverCpu'), of('baseline', 'serverCpu'))
      return {
        reference: 'bare node:http + undici Pool passthrough, same nginx upstream',
        metrics: [
          metric('requests/s', 'req/s', of('broker', 'requestsPerSecond'), of('baseline', 'requestsPerSecond'), 'ratio', { on: 'comparison', op: '>=', value: 0.8 }),
          metric('proxy CPU per request', 'µs', of('broker', 'cpuMicrosPerRequest'), of('baseline', 'cpuMicrosPerRequest'), 'ratio', { on: 'comparison', op: '<', value: 1.5 }),
          metric('proxy CPU busy', 'cores', of('broker', 'serverCpu'), of('baseline', 'serverCpu'), 'ratio'),
          metric('p50 latency', 'ms', of('broker', 'p50Ms'), of('baseline', 'p50Ms'), 'difference'),
          ...versus('nginx'),
          ...versus('nodeUpstream')
        ],
        notes: [
          `wrk -t1 -c50, one path (${HOT_PATH}), one caller JWT; ${settings.durationS} s per run, ${settings.rounds} rotating rounds of 4 rows, median; nginx upstream \`return 200\` (~1 KB JSON) on the load generator's core`,
          `broker: ${cliCommand().built ? 'the built' : 'from source through tsx (not comparable with a built run):'} \`serve --config\` (41 rules, one integration, file store), its per-request log line at info to a file (${Math.round(logged / 1024)} kB written)`,
          busy >= 0.95
            ? 'broker and bare passthrough were saturated (busy ≥ 0.95): the ratios hold'
            : `a proxy was below 0.95 cores busy (${busy.toFixed(2)}): the machine starved the load generator, so both proxies were fed in small batches, every event-loop turn's fixed cost fell on few requests, and the CPU ratio is pulled toward 1 (the effect the Node-upstream row shows); rerun on a quiet machine`,
          'the "Node upstream" rows are the same bare passthrough in front of bench/upstream.ts (Node, sharing wrk\'s core): what the other scenarios\' baseline pays per request'
        ],
        samples: runs
      }
    } finally {
      for (const stop of stops) await stop()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
