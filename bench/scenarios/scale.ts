/**
 * Scenario 6: scale of config. A broker holding 1,000 integrations and 10,000 policy rules against the same broker
 * with the small config, runs alternating: per-request cost must not grow with the config (lookups are indexed).
 * Both mixes are 16 (caller, integration) pairs; in the large config they are spread over the whole rule list.
 */
import { requestsFor, trafficFor } from '../broker-config.js'
import { saturate } from '../load.js'
import { readMemory } from '../processes.js'
import { alternate, median, metric, type Scenario } from './scenario.js'

export const scale: Scenario = {
  name: 'scale',
  title: 'Scale of config: 1,000 integrations, 10,000 rules',
  async run ({ settings, broker, startBroker, log }) {
    const large = await startBroker('large')
    try {
      const small = { url: broker.url, pid: broker.pid, requests: requestsFor(trafficFor('small')) }
      const big = { url: large.url, pid: large.pid, requests: requestsFor(trafficFor('large')) }
      const options = { durationS: settings.durationS, connections: settings.connections }
      await saturate(big.url, big.requests, { ...options, durationS: settings.warmupS, pid: big.pid })
      await saturate(small.url, small.requests, { ...options, durationS: settings.warmupS, pid: small.pid })
      const runs = await alternate(settings.rounds, {
        baseline: async () => {
          const result = await saturate(small.url, small.requests, { ...options, pid: small.pid })
          log(`  small config ${Math.round(result.requestsPerSecond)} req/s, ${Math.round(result.cpuMicrosPerRequest)} µs CPU/request`)
          return result
        },
        broker: async () => {
          const result = await saturate(big.url, big.requests, { ...options, pid: big.pid })
          log(`  large config ${Math.round(result.requestsPerSecond)} req/s, ${Math.round(result.cpuMicrosPerRequest)} µs CPU/request`)
          return result
        }
      })
      const rss = { small: readMemory(small.pid).rss / 1_048_576, large: readMemory(big.pid).rss / 1_048_576 }
      return {
        reference: 'the broker with the small config (4 integrations, 34 rules)',
        metrics: [
          metric('requests/s, large config', 'req/s', median(runs.broker.map((run) => run.requestsPerSecond)), median(runs.baseline.map((run) => run.requestsPerSecond)), 'ratio', { on: 'comparison', op: '>=', value: 0.9 }),
          metric('broker CPU per request', 'µs', median(runs.broker.map((run) => run.cpuMicrosPerRequest)), median(runs.baseline.map((run) => run.cpuMicrosPerRequest)), 'ratio'),
          metric('start-up time', 'ms', large.ready.startMs, broker.ready.startMs, 'ratio'),
          metric('RSS', 'MB', rss.large, rss.small, 'difference')
        ],
        notes: [`${settings.connections} connections, ${settings.durationS} s per run, ${settings.rounds} alternating rounds, median; the 0.90 target is the run-to-run noise band on a shared 2-core machine`],
        samples: runs
      }
    } finally { await large.stop() }
  }
}
