/**
 * Scenario 3: cold start herd. A fresh broker (empty token and JWT caches) gets `herdSize` concurrent requests for one
 * integration: the token endpoint must see exactly one exchange, and all must be answered. The baseline is a fresh
 * passthrough taking the same herd (it has no token to get: the difference is the broker's cold path).
 */
import { requestsFor, trafficFor } from '../broker-config.js'
import { herd as sendHerd } from '../load.js'
import { alternate, median, metric, type Scenario } from './scenario.js'

export const herd: Scenario = {
  name: 'herd',
  title: 'Cold start herd on an empty token cache',
  async run ({ settings, upstream, startBroker, startBaseline, log }) {
    const requests = requestsFor(trafficFor('small').filter((call) => call.integration === 'jira-main'))
    const exchanges: number[] = []
    const runs = await alternate(settings.rounds, {
      baseline: async () => {
        const fresh = await startBaseline()
        try {
          return await sendHerd(fresh.url, requests, settings.herdSize)
        } finally { await fresh.stop() }
      },
      broker: async () => {
        const fresh = await startBroker('small')
        try {
          await upstream.reset()
          const result = await sendHerd(fresh.url, requests, settings.herdSize)
          exchanges.push((await upstream.stats()).exchanges)
          log(`  broker: ${settings.herdSize} answered in ${result.seconds.toFixed(3)} s with ${exchanges.at(-1)} exchange(s); statuses ${JSON.stringify(result.statuses)}`)
          return result
        } finally { await fresh.stop() }
      }
    })
    for (const run of [...runs.broker, ...runs.baseline]) {
      if (run.statuses[200] !== settings.herdSize) throw new Error(`herd: not every request was answered 200: ${JSON.stringify(run.statuses)}`)
    }
    return {
      reference: 'fresh bare passthrough (no token to get)',
      metrics: [
        metric('token exchanges', 'count', Math.max(...exchanges), null, 'ratio', { on: 'broker', op: '=', value: 1 }),
        metric(`time to answer all ${settings.herdSize}`, 's', median(runs.broker.map((run) => run.seconds)), median(runs.baseline.map((run) => run.seconds)), 'ratio')
      ],
      notes: [`${settings.herdSize} requests at once, each on its own new connection, ${requests.length} callers, one integration; the token endpoint answers after 50 ms; ${settings.rounds} round(s), each on fresh processes; exchanges is the most seen in any round`],
      samples: { ...runs, exchanges }
    }
  }
}
