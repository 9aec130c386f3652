/**
 * Scenario 1: small GET at saturation. wrk (C) drives the proxy pinned to its own core, with wrk and the upstream
 * on the other, so the proxy, not the load generator, is the limit (its "busy" figure shows it). Rows: the broker,
 * the bare undici passthrough (reference) and nginx `proxy_pass` (a non-Node reference), runs rotating each round.
 * Without wrk (not installed, not root) it falls back to autocannon and says so.
 */
import { requestsFor, trafficFor } from '../broker-config.js'
import { saturate, type LoadRequest, type SaturationResult } from '../load.js'
import { hasNginx, startNginx } from '../nginx.js'
import { ensureWrk, wrkSaturate } from '../wrk.js'
import { median, metric, type Metric, type Scenario } from './scenario.js'

type Row = 'broker' | 'baseline' | 'nginx'

export const throughput: Scenario = {
  name: 'throughput',
  title: 'Small GET (~1 KB JSON) at saturation',
  async run ({ settings, broker, baseline, upstream, cpus, log }) {
    const requests = requestsFor(trafficFor('small'))
    const wrk = ensureWrk(log)
    const nginx = wrk !== undefined && hasNginx() ? await startNginx(upstream.url, { cpus: cpus.proxy }) : undefined
    try {
      const targets: Array<{ row: Row, url: string, pid: number }> = [
        { row: 'baseline', url: baseline.url, pid: baseline.pid },
        { row: 'broker', url: broker.url, pid: broker.pid },
        ...(nginx ? [{ row: 'nginx' as const, url: nginx.url, pid: nginx.pid }] : [])
      ]
      const once = async (
        url: string,
        pid: number,
        durationS: number,
        calls: LoadRequest[]
      ): Promise<SaturationResult> =>
        wrk === undefined
          ? await saturate(url, calls, { durationS, connections: settings.connections, pid })
          : await wrkSaturate(wrk, url, calls, {
            durationS,
            connections: settings.connections,
            pids: [pid],
            cpus: cpus.load
          })
      for (const target of targets) await once(target.url, target.pid, settings.warmupS, requests)
      const runs: Record<Row, SaturationResult[]> = { broker: [], baseline: [], nginx: [] }
      for (let round = 0; round < settings.rounds; round++) {
        // Rotate who goes first, so the machine's drift falls on every row.
        for (let k = 0; k < targets.length; k++) {
          const target = targets[(round + k) % targets.length] as (typeof targets)[number]
          const result = await once(target.url, target.pid, settings.durationS, requests)
          log(`  ${target.row.padEnd(8)} ${Math.round(result.requestsPerSecond)} req/s, ${Math.round(result.cpuMicrosPerRequest)} µs CPU/request (proxy busy ${result.serverCpu.toFixed(2)} cores)`)
          runs[target.row].push(result)
        }
      }
      const of = (row: Row, key: keyof SaturationResult): number => median(runs[row].map((run) => run[key]))
      const metrics: Metric[] = [
        metric('requests/s', 'req/s', of('broker', 'requestsPerSecond'), of('baseline', 'requestsPerSecond'), 'ratio', { on: 'comparison', op: '>=', value: 0.8 }),
        metric('proxy CPU per request', 'µs', of('broker', 'cpuMicrosPerRequest'), of('baseline', 'cpuMicrosPerRequest'), 'ratio', { on: 'comparison', op: '<', value: 1.25 }),
        metric('proxy CPU busy', 'cores', of('broker', 'serverCpu'), of('baseline', 'serverCpu'), 'ratio')
      ]
      if (nginx) {
        metrics.push(
          metric('nginx proxy_pass: requests/s', 'req/s', of('nginx', 'requestsPerSecond'), of('baseline', 'requestsPerSecond'), 'ratio'),
          metric('nginx proxy_pass: CPU per request', 'µs', of('nginx', 'cpuMicrosPerRequest'), of('baseline', 'cpuMicrosPerRequest'), 'ratio'),
          metric('nginx proxy_pass: busy', 'cores', of('nginx', 'serverCpu'), of('baseline', 'serverCpu'), 'ratio')
        )
      }
      const busy = Math.min(of('broker', 'serverCpu'), of('baseline', 'serverCpu'))
      return {
        reference: 'bare undici passthrough',
        metrics,
        notes: [
          `${wrk === undefined ? 'autocannon (wrk unavailable)' : 'wrk, 1 thread'}, ${settings.connections} connections, ${settings.durationS} s per run, ${settings.rounds} rotating rounds, median; 16-call mix of 8 callers over 4 integrations`,
          'CPU per request is the proxy process\'s user+system time (/proc) over the requests it answered; "busy" is that time per second of run, where 1.00 means the proxy used its whole core',
          busy >= 0.95 ? 'both Node proxies were saturated (busy ≥ 0.95)' : `a proxy was below 0.95 cores busy (${busy.toFixed(2)}): the load generator or upstream was the limit and requests/s flatters the slower side; CPU per request still holds`,
          ...(nginx ? ['rows "nginx proxy_pass" carry nginx (one process, keep-alive upstream, authorization set) in the broker column, against the same baseline'] : [])
        ],
        samples: runs
      }
    } finally {
      await nginx?.stop()
    }
  }
}
