/**
 * Scenario 5: RSS and heap after `memoryTotalCount` requests against after `memoryWarmCount`, on fresh processes,
 * each measured after two full GCs. The broker's caches are bounded, so once warm nothing should grow.
 * The count is kept unless it cannot be sent within `memoryBudgetS` at the rates measured while warming (a shared
 * 2-core machine may do well under 1,000 req/s); then the count that fits is run, and the report says so.
 */
import { requestsFor, trafficFor } from '../broker-config.js'
import { sendCount } from '../load.js'
import { readMemory } from '../processes.js'
import { metric, type BenchContext, type Scenario } from './scenario.js'

const MB = 1_048_576

interface Snapshot { rss: number, heapUsed: number }
type Server = Awaited<ReturnType<BenchContext['startBaseline']>>

async function snapshot (server: Server): Promise<Snapshot> {
  const usage = await server.request<{ heapUsed: number }>('memory', { gc: true })
  return { rss: readMemory(server.pid).rss, heapUsed: usage.heapUsed }
}

/** Down to two significant digits: 216,543 -> 210,000. */
function roundDown (value: number): number {
  const step = 10 ** Math.max(0, Math.floor(Math.log10(Math.max(1, value))) - 1)
  return Math.floor(value / step) * step
}

export const memory: Scenario = {
  name: 'memory',
  title: 'Memory after many requests',
  async run ({ settings, startBroker, startBaseline, log }) {
    const requests = requestsFor(trafficFor('small'))
    const send = (server: Server, count: number): Promise<number> =>
      sendCount(server.url, requests, { count, connections: settings.memoryConnections })
    const broker = await startBroker('small')
    const baseline = await startBaseline()
    try {
      const rates = {
        broker: await send(broker, settings.memoryWarmCount),
        baseline: await send(baseline, settings.memoryWarmCount)
      }
      const warm = { broker: await snapshot(broker), baseline: await snapshot(baseline) }
      const fits = roundDown(settings.memoryBudgetS / (1 / rates.broker + 1 / rates.baseline))
      const total = Math.max(settings.memoryWarmCount * 2, Math.min(settings.memoryTotalCount, fits))
      const count = (n: number): string => n.toLocaleString('en-US')
      log(`  warm at ${Math.round(rates.broker)} (broker) and ${Math.round(rates.baseline)} (baseline) req/s: ${count(total)} requests each` +
        (total < settings.memoryTotalCount ? ` (${count(settings.memoryTotalCount)} do not fit the ${settings.memoryBudgetS} s budget)` : ''))
      const runRate = {
        broker: await send(broker, total - settings.memoryWarmCount),
        baseline: await send(baseline, total - settings.memoryWarmCount)
      }
      const after = { broker: await snapshot(broker), baseline: await snapshot(baseline) }
      for (const side of ['baseline', 'broker'] as const) {
        log(`  ${side}: RSS ${(warm[side].rss / MB).toFixed(1)} -> ${(after[side].rss / MB).toFixed(1)} MB, heap ${(warm[side].heapUsed / MB).toFixed(1)} -> ${(after[side].heapUsed / MB).toFixed(1)} MB at ${Math.round(runRate[side])} req/s`)
      }
      const growth = (side: 'broker' | 'baseline', key: keyof Snapshot): number => (after[side][key] - warm[side][key]) / MB
      const notes = [`fresh processes; ${count(total)} requests each over ${settings.memoryConnections} connections, as fast as they go (broker ${Math.round(runRate.broker)} req/s); figures after two forced full GCs`]
      if (total < settings.memoryTotalCount) notes.push(`${count(settings.memoryTotalCount)} requests did not fit the ${settings.memoryBudgetS} s budget at the measured rates: ${count(total)} were sent`)
      return {
        reference: 'fresh bare passthrough',
        metrics: [
          metric(`RSS after ${count(settings.memoryWarmCount)} requests`, 'MB', warm.broker.rss / MB, warm.baseline.rss / MB, 'difference'),
          metric(`RSS after ${count(total)} requests`, 'MB', after.broker.rss / MB, after.baseline.rss / MB, 'difference'),
          metric('RSS growth', 'MB', growth('broker', 'rss'), growth('baseline', 'rss'), 'difference', { on: 'broker', op: '<', value: 16 }),
          metric('heap growth (after GC)', 'MB', growth('broker', 'heapUsed'), growth('baseline', 'heapUsed'), 'difference', { on: 'broker', op: '<', value: 4 })
        ],
        notes,
        samples: { rates, runRate, warm, after, total }
      }
    } finally {
      await Promise.all([broker.stop(), baseline.stop()])
    }
  }
}
