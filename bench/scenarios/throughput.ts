/** Scenario 1: small GET at saturation, requests per second, broker against the bare passthrough. */
import { requestsFor, trafficFor } from '../broker-config.js'
import { saturate } from '../load.js'
import { alternate, median, metric, type Scenario } from './scenario.js'

export const throughput: Scenario = {
  name: 'throughput',
  title: 'Small GET (~1 KB JSON) at saturation',
  async run ({ settings, broker, baseline, log }) {
    const requests = requestsFor(trafficFor('small'))
    const options = { durationS: settings.durationS, connections: settings.connections }
    await saturate(baseline.url, requests, { ...options, durationS: settings.warmupS, pid: baseline.pid })
    await saturate(broker.url, requests, { ...options, durationS: settings.warmupS, pid: broker.pid })
    const runs = await alternate(settings.rounds, {
      baseline: async () => {
        const result = await saturate(baseline.url, requests, { ...options, pid: baseline.pid })
        log(`  baseline ${Math.round(result.requestsPerSecond)} req/s, ${Math.round(result.cpuMicrosPerRequest)} µs CPU/request (server busy ${result.serverCpu.toFixed(2)})`)
        return result
      },
      broker: async () => {
        const result = await saturate(broker.url, requests, { ...options, pid: broker.pid })
        log(`  broker   ${Math.round(result.requestsPerSecond)} req/s, ${Math.round(result.cpuMicrosPerRequest)} µs CPU/request (server busy ${result.serverCpu.toFixed(2)})`)
        return result
      }
    })
    const brokerRps = median(runs.broker.map((run) => run.requestsPerSecond))
    const baselineRps = median(runs.baseline.map((run) => run.requestsPerSecond))
    return {
      reference: 'bare undici passthrough',
      metrics: [
        metric('requests/s', 'req/s', brokerRps, baselineRps, 'ratio', { on: 'comparison', op: '>=', value: 0.8 }),
        metric('proxy CPU per request', 'µs', median(runs.broker.map((run) => run.cpuMicrosPerRequest)), median(runs.baseline.map((run) => run.cpuMicrosPerRequest)), 'ratio'),
        metric('proxy CPU busy', 'cores', median(runs.broker.map((run) => run.serverCpu)), median(runs.baseline.map((run) => run.serverCpu)), 'ratio')
      ],
      notes: [
        `${settings.connections} connections, ${settings.durationS} s per run, ${settings.rounds} alternating rounds, median; 16-call mix of 8 callers over 4 integrations`,
        'CPU per request is the proxy process\'s user+system time over the requests it answered; "busy" is that time per second of run, where 1.00 means the proxy used its whole core: below that the load generator, not the proxy, was the limit'
      ],
      samples: runs
    }
  }
}
