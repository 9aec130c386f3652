/**
 * Scenario 7: fleet mode. A real redis-server (started here, no persistence) and fresh brokers with `fleet`
 * configured. Measures (a) saturation throughput and CPU per request of one fleet-mode broker against the
 * long-lived local-mode broker, on the same warm traffic (the shared token cache and quota hold cost nothing
 * per request once the token is cached); (b) a budget's accuracy: three fleet brokers under a greedy load on a
 * budgeted integration, requests admitted per second against the budget, and the Redis commands the leases cost
 * per admitted request (INFO commandstats). Skipped (an error row) when redis-server is not installed.
 */
import { Agent, request } from 'undici'
import { brokerConfigInput, callerToken, requestsFor, trafficFor } from '../broker-config.js'
import { saturate, sendCount } from '../load.js'
import { startRedis, startRedisCluster, type BenchRedis } from '../redis.js'
import { metric, type BenchContext, type Scenario } from './scenario.js'

const BUDGET_PER_SECOND = 200
const BUDGET_SIDECARS = 3

/**
 * Script calls (EVAL) Redis has run so far: one per lease, the fleet's per-request cost under a budget. INFO's
 * per-command counts also count the commands scripts run inside, so they are not summed.
 */
async function redisCommands (redis: BenchRedis): Promise<number> {
  const stats = await redis.info('commandstats')
  return (stats.get('cmdstat_eval.calls') ?? 0) + (stats.get('cmdstat_evalsha.calls') ?? 0)
}

export const fleet: Scenario = {
  name: 'fleet',
  title: 'Fleet mode (Redis, and Redis Cluster): throughput, CPU per request, budget accuracy',
  async run (context) {
    const { settings, broker, startBroker, log } = context
    const redis = await startRedis()
    try {
      const requests = requestsFor(trafficFor('small'))
      const fleetOverrides = (prefix: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
        fleet: { redis: { ...redis.where, keyPrefix: prefix } },
        ...extra
      })
      // (a) throughput: one fleet broker, warmed, against the warm local one.
      const fleetBroker = await startBroker('small', fleetOverrides('bench-throughput'))
      let local, inFleet
      try {
        await sendCount(fleetBroker.url, requests, { count: 200, connections: 10 })
        const commandsBefore = await redisCommands(redis)
        inFleet = await saturate(fleetBroker.url, requests, {
          durationS: settings.durationS,
          connections: settings.connections,
          pid: fleetBroker.pid
        })
        const commandsDuring = await redisCommands(redis) - commandsBefore
        log(`  fleet broker: ${inFleet.requestsPerSecond.toFixed(0)} req/s, ${inFleet.cpuMicrosPerRequest.toFixed(0)} µs CPU/request, ${commandsDuring} Redis script calls`)
        local = await saturate(broker.url, requests, {
          durationS: settings.durationS,
          connections: settings.connections,
          pid: broker.pid
        })
      } finally { await fleetBroker.stop() }

      // (b) a budget shared by three fleet brokers under greedy load, on one Redis and on a cluster.
      const single = await budgetRun(context, redis, 'single')
      const cluster = await startRedisCluster()
      let onCluster
      try { onCluster = await budgetRun(context, cluster, 'cluster') } finally { cluster.stop() }
      const budgetSeconds = settings.quick ? 3 : 10
      return {
        reference: 'local mode (the long-lived broker, no Redis); the budget row compares with the configured rate',
        metrics: [
          metric('throughput', 'req/s', inFleet.requestsPerSecond, local.requestsPerSecond, 'ratio', { on: 'comparison', op: '>=', value: 0.9 }),
          metric('CPU per request', 'µs', inFleet.cpuMicrosPerRequest, local.cpuMicrosPerRequest, 'ratio'),
          ...[single, onCluster].flatMap(({ label, rate, admitted, commands }) => [
            metric(`budget accuracy over ${budgetSeconds} s, ${BUDGET_SIDECARS} sidecars, ${label}`, 'req/s', rate, BUDGET_PER_SECOND, 'ratio', { on: 'comparison', op: '>=', value: 0.9 }),
            metric(`Redis round trips (script calls) per admitted request, ${label}`, 'count', admitted === 0 ? 0 : commands / admitted, null, 'ratio')
          ])
        ],
        notes: [
          'throughput: warm token cache, the small config\'s traffic; in fleet mode a cached token costs no Redis call, so the two should match',
          'cluster: three primaries and three replicas (redis-cli --cluster create); the budget key\'s slot lives on one primary',
          `budget: ${BUDGET_SIDECARS} fleet brokers, 8 greedy loops each on one caller, budget ${BUDGET_PER_SECOND}/s burst ${BUDGET_PER_SECOND / 10}; leases of about 1/20 of the share, so Redis sees about 20 lease calls per second per caller whatever the rate`
        ],
        samples: { local, inFleet, single, cluster: onCluster }
      }
    } finally {
      redis.stop()
    }
  }
}

/** Three fleet brokers, 8 greedy loops each, on a budgeted integration: admitted per second and leases per call. */
async function budgetRun (
  { settings, startBroker, log }: BenchContext,
  redis: BenchRedis,
  label: string
): Promise<{ label: string, rate: number, admitted: number, refused: number, elapsed: number, commands: number }> {
  const fleetOverrides = (prefix: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    fleet: { redis: { ...redis.where, keyPrefix: prefix } },
    ...extra
  })
  const budgetSeconds = settings.quick ? 3 : 10
  const budgeted = 'jira-main'
  const small = brokerConfigInput('small', { upstreamUrl: 'http://unused', dataDir: '.' }).integrations ?? {}
  const integrations = {
    ...small,
    [budgeted]: { ...small[budgeted], budget: { perSecond: BUDGET_PER_SECOND, burst: BUDGET_PER_SECOND / 10 } }
  }
  const brokers = []
  for (let index = 0; index < BUDGET_SIDECARS; index++) {
    brokers.push(await startBroker('small', fleetOverrides('bench-budget', { integrations })))
  }
  let admitted = 0
  let refused = 0
  let commands = 0
  let elapsed = 0
  try {
    const others = requestsFor(trafficFor('small').filter((call) => call.integration !== budgeted))
    await Promise.all(
      brokers.map(async (server) => {
        await sendCount(server.url, others, { count: 32, connections: 4 })
      })
    )
    const agent = new Agent({ connections: 16 })
    const path = `/proxy/${budgeted}/rest/api/3/issue/OPS-1?fields=summary`
    const auth = { authorization: `Bearer ${callerToken('report-job')}` }
    const commandsBefore = await redisCommands(redis)
    const started = performance.now()
    let running = true
    const loops = brokers.flatMap((server) => Array.from({ length: 8 }, async () => {
      while (running) {
        const response = await request(`${server.url}${path}`, { headers: auth, dispatcher: agent })
        await response.body.dump()
        if (response.statusCode === 200) admitted++
        else if (response.statusCode === 429) refused++
        else throw new Error(`budget run: answer ${response.statusCode}`)
      }
    }))
    await new Promise((resolve) => setTimeout(resolve, budgetSeconds * 1000))
    running = false
    await Promise.all(loops)
    elapsed = (performance.now() - started) / 1000
    commands = await redisCommands(redis) - commandsBefore
    await agent.close()
  } finally { await Promise.all(brokers.map(async (server) => { await server.stop() })) }
  const rate = admitted / elapsed
  log(`  ${label}: budget ${BUDGET_PER_SECOND}/s on ${BUDGET_SIDECARS} sidecars: ${rate.toFixed(1)}/s admitted (${admitted} admitted, ${refused} refused in ${elapsed.toFixed(1)} s), ${commands} Redis script calls (leases)`)
  return { label, rate, admitted, refused, elapsed, commands }
}
