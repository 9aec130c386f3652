/** Scenario 2: p50/p99 at a fixed moderate rate; the broker's added latency is broker minus baseline, in ms. */
import { requestsFor, trafficFor } from '../broker-config.js'
import { fixedRate, saturate } from '../load.js'
import { alternate, median, metric, type Scenario } from './scenario.js'

export const latency: Scenario = {
  name: 'latency',
  title: 'Latency at a fixed rate',
  async run ({ settings, broker, baseline, log }) {
    const requests = requestsFor(trafficFor('small'))
    const options = {
      rate: settings.latencyRate,
      durationS: settings.durationS,
      connections: settings.latencyConnections
    }
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
        const result = await fixedRate(baseline.url, requests, options)
        log(`  baseline p50 ${result.p50Ms.toFixed(3)} ms p99 ${result.p99Ms.toFixed(3)} ms at ${Math.round(result.achievedRate)} req/s`)
        return result
      },
      broker: async () => {
        const result = await fixedRate(broker.url, requests, options)
        log(`  broker   p50 ${result.p50Ms.toFixed(3)} ms p99 ${result.p99Ms.toFixed(3)} ms at ${Math.round(result.achievedRate)} req/s`)
        return result
      }
    })
    const pick = (key: 'p50Ms' | 'p99Ms', side: 'broker' | 'baseline'): number => median(runs[side].map((run) => run[key]))
    const rate = median(runs.broker.map((run) => run.achievedRate))
    const notes = [`${settings.latencyRate} req/s over ${settings.latencyConnections} connections (autocannon overallRate), ${settings.durationS} s per run, ${settings.rounds} alternating rounds, median of per-run percentiles; times from the client's clock, sub-ms precision`]
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
