/**
 * Scenario 2: p50/p99 at a fixed moderate rate; the broker's added latency is broker minus baseline, in ms. hey (Go)
 * sends when it is installed, on CPU 0 with the upstream; autocannon (the 16-call mix, from the orchestrator)
 * otherwise.
 */
import { requestsFor, trafficFor } from '../broker-config.js'
import { ensureHey, heyFixedRate } from '../hey.js'
import { fixedRate, saturate, type LatencyResult } from '../load.js'
import { alternate, median, metric, type Scenario } from './scenario.js'

export const latency: Scenario = {
  name: 'latency',
  title: 'Latency at a fixed rate',
  async run ({ settings, broker, baseline, cpus, log }) {
    const requests = requestsFor(trafficFor('small'))
    const options = {
      rate: settings.latencyRate,
      durationS: settings.durationS,
      connections: settings.latencyConnections,
      cpus: cpus.load
    }
    const hey = ensureHey(log)
    const first = requests[0]
    const send = async (url: string): Promise<LatencyResult> =>
      hey !== undefined && first !== undefined
        ? await heyFixedRate(hey, url, first, options)
        : await fixedRate(url, requests, options)
    await saturate(baseline.url, requests, {
      durationS: settings.warmupS,
      connections: settings.latencyConnections,
      pid: baseline.pid
    })
    await saturate(broker.url, requests, {
      durationS: settings.warmupS,
      connections: settings.latencyConnections,
      pid: broker.pid
    })
    const runs = await alternate(settings.rounds, {
      baseline: async () => {
        const result = await send(baseline.url)
        log(`  baseline p50 ${result.p50Ms.toFixed(3)} ms p99 ${result.p99Ms.toFixed(3)} ms at ${Math.round(result.achievedRate)} req/s`)
        return result
      },
      broker: async () => {
        const result = await send(broker.url)
        log(`  broker   p50 ${result.p50Ms.toFixed(3)} ms p99 ${result.p99Ms.toFixed(3)} ms at ${Math.round(result.achievedRate)} req/s`)
        return result
      }
    })
    const pick = (key: 'p50Ms' | 'p99Ms', side: 'broker' | 'baseline'): number => median(runs[side].map((run) => run[key]))
    const rate = median(runs.broker.map((run) => run.achievedRate))
    const generator =
      hey !== undefined
        ? `hey, ${settings.latencyConnections} workers at ${settings.latencyRate / settings.latencyConnections} req/s each, pinned with the upstream; one call (${first?.method} ${first?.path.split('?')[0]}), 0.1 ms precision`
        : 'autocannon overallRate from the orchestrator (hey unavailable), the 16-call mix, sub-ms precision'
    const notes = [`${settings.latencyRate} req/s over ${settings.latencyConnections} connections: ${generator}; ${settings.durationS} s per run, ${settings.rounds} alternating rounds, median of per-run percentiles; times from the client's clock`]
    if (rate < settings.latencyRate * 0.95) notes.push(`the broker reached only ${Math.round(rate)} req/s of the ${settings.latencyRate} asked`)
    return {
      reference: 'bare undici passthrough',
      metrics: [
        metric(`p50 at ${settings.latencyRate} req/s`, 'ms', pick('p50Ms', 'broker'), pick('p50Ms', 'baseline'), 'difference'),
        metric(`p99 at ${settings.latencyRate} req/s`, 'ms', pick('p99Ms', 'broker'), pick('p99Ms', 'baseline'), 'difference', { on: 'comparison', op: '<', value: 1 })
      ],
      notes,
      samples: runs
    }
  }
}
