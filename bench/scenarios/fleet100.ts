/**
 * Scenario `fleet100` (opt-in: `npm run bench -- --only fleet100`): a fleet of 100 sidecars against one redis-server,
 * each an in-process fleet member built from the real parts (its own RedisLink with two connections, FleetLimits'
 * leases over the fair-share script, FleetSlots, the shared token cache, FleetUsage's 10-second flush, the event
 * subscription), under a realistic mix: every member serves PER_POD_RATE calls a second spread over CALLERS callers
 * and two integrations, one with a fleet budget, and one call in ten under a fleet-wide `maxConcurrent`. Measured:
 * Redis's command rate (INFO commandstats and stats), memory (INFO memory), CPU (INFO cpu), client-side latency of
 * the round trips, and each sidecar's lease traffic.
 */
import pino from 'pino'
import { systemClock } from '../../src/clock.js'
import { parseConfig } from '../../src/config/load.js'
import { FleetLimits } from '../../src/fleet/fleet-limits.js'
import { FleetRejections } from '../../src/fleet/fleet-metrics.js'
import { FleetSlots } from '../../src/fleet/fleet-slots.js'
import { FleetUsage } from '../../src/fleet/fleet-usage.js'
import { FleetKeys } from '../../src/fleet/keys.js'
import { RedisLink } from '../../src/fleet/redis-link.js'
import { SharedTokens } from '../../src/fleet/shared-tokens.js'
import { FleetKeyring } from '../../src/fleet/token-crypto.js'
import type { MintedToken } from '../../src/tokens/grant.js'
import { UsageTally } from '../../src/usage/tally.js'
import { startRedis } from '../redis.js'
import { metric, type Scenario } from './scenario.js'

const PODS = 100
const PER_POD_RATE = 20
const CALLERS = 10
const BUDGET = { perSecond: 500, burst: 50 }
const SLOT_LIMIT = 50
const logger = pino({ level: 'silent' })

function percentile (sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!
}

interface FleetFigures {
  pods: number
  callsPerSecond: number
  commandsPerSecond: number
  scriptsPerSecond: number
  /** Redis's own time per script call (INFO commandstats), without the network or the client's event loop. */
  scriptMicros: number
  cpuPercent: number
  memoryMiB: number
  p50: number
  p99: number
  leasesPerPod: number
  leasesPerPodMax: number
  exchanges: number
  byCommand: Array<readonly [string, number]>
}

/** `pods` fleet members on a fresh redis-server for `seconds`. */
async function runFleet (pods: number, seconds: number): Promise<FleetFigures> {
  const redis = await startRedis()
  const config = parseConfig({ fleet: { redis: { ...redis.where, keyPrefix: 'fleet100' } } }, 'bench', {}).fleet!.redis
  const keys = new FleetKeys('fleet100')
  const members = Array.from({ length: pods }, (_unused, index) => {
    const link = new RedisLink(config, logger, systemClock)
    const rejections = new FleetRejections({ logger, clock: systemClock })
    const tally = new UsageTally({ clock: systemClock })
    const usage = new FleetUsage({ link, keys, clock: systemClock, pod: `pod-${index}`, tally, rejections })
    const keyring = new FleetKeyring()
    const tokens = new SharedTokens({
      link, keys, clock: systemClock, keyring, rejections, lockMs: 5_000, onDropped: () => {}
    })
    const limits = new FleetLimits({ link, clock: systemClock, rejections })
    return { link, tally, usage, tokens, limits, slots: new FleetSlots({ link, clock: systemClock }) }
  })
  try {
    for (const member of members) {
      member.link.subscribe(keys.events, () => {})
      member.link.start()
    }
    while (members.some((member) => !member.link.connected)) await new Promise((resolve) => setTimeout(resolve, 50))
    // Cold start: every sidecar wants the token at once; one exchanges, the others read the sealed entry.
    const secret = { data: { client_id: 'bench-client', client_secret: 'bench-secret-0123456789abcdef' }, version: 1 }
    let exchanges = 0
    const mint = async (): Promise<MintedToken> => {
      exchanges++
      const now = Date.now()
      return { authorization: 'Bearer bench-token', secretVersion: 1, expiresAt: now + 3_600_000, usableUntil: now + 3_540_000, refreshAt: now + 3_300_000 }
    }
    await Promise.all(members.map(async (member) => await member.tokens.obtain('jira-main', secret, mint)))
    for (const member of members) member.usage.start()

    const before = { commands: await redis.info('commandstats'), stats: await redis.info('stats'), cpu: await redis.info('cpu') }
    const roundTrips: number[] = []
    const timed = async <T>(answer: T | Promise<T>): Promise<T> => {
      if (!(answer instanceof Promise)) return answer
      const started = performance.now()
      const value = await answer
      roundTrips.push(performance.now() - started)
      return value
    }
    let calls = 0
    const started = performance.now()
    const deadline = started + seconds * 1000
    await Promise.all(members.map(async (member, index) => {
      for (let tick = 0; performance.now() < deadline; tick++) {
        await new Promise((resolve) => setTimeout(resolve, 1000 / PER_POD_RATE))
        // A pod serves a few of the callers (by its index), as a Deployment's pods serve whoever calls them.
        const caller = `caller-${(index + tick) % CALLERS}`
        calls++
        const budgeted = tick % 2 === 0
        if (budgeted && await timed(member.limits.take(keys.budget('jira-main'), caller, BUDGET)) !== 0) continue
        if (tick % 10 === 0) {
          const release = await timed(member.slots.take(keys.ruleSlots('rule-export', caller), SLOT_LIMIT))
          if (typeof release === 'function') setTimeout(release, 50)
        }
        const call = { statusCode: 200, errorCode: undefined, durationMs: 50, bytesIn: 0, bytesOut: 1_000 }
        member.tally.record(caller, budgeted ? 'jira-main' : 'wiki-main', call)
      }
    }))
    const elapsed = (performance.now() - started) / 1000
    const after = {
      commands: await redis.info('commandstats'),
      stats: await redis.info('stats'),
      cpu: await redis.info('cpu'),
      memory: await redis.info('memory')
    }
    const delta = (name: string, from: Map<string, number>, to: Map<string, number>): number =>
      (to.get(name) ?? 0) - (from.get(name) ?? 0)
    const scripts = delta('cmdstat_eval.calls', before.commands, after.commands) + delta('cmdstat_evalsha.calls', before.commands, after.commands)
    const scriptUsec = delta('cmdstat_eval.usec', before.commands, after.commands) + delta('cmdstat_evalsha.usec', before.commands, after.commands)
    const leases = members.map((member) => member.limits.roundTrips / elapsed).sort((a, b) => a - b)
    const sorted = roundTrips.sort((a, b) => a - b)
    return {
      pods,
      callsPerSecond: calls / elapsed,
      commandsPerSecond: delta('total_commands_processed', before.stats, after.stats) / elapsed,
      scriptsPerSecond: scripts / elapsed,
      scriptMicros: scripts === 0 ? 0 : scriptUsec / scripts,
      cpuPercent: 100 * (delta('used_cpu_sys', before.cpu, after.cpu) + delta('used_cpu_user', before.cpu, after.cpu)) / elapsed,
      memoryMiB: (after.memory.get('used_memory') ?? 0) / 1_048_576,
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
      leasesPerPod: leases.reduce((sum, rate) => sum + rate, 0) / pods,
      leasesPerPodMax: leases.at(-1) ?? 0,
      exchanges,
      byCommand: [...after.commands].filter(([name]) => name.endsWith('.calls'))
        .map(([name, value]) => [name.replace(/^cmdstat_|\.calls$/g, ''), (value - (before.commands.get(name) ?? 0)) / elapsed] as const)
        .filter(([, rate]) => rate > 0.05).sort((a, b) => b[1] - a[1])
    }
  } finally {
    await Promise.all(members.map(async (member) => {
      await member.usage.stop()
      member.slots.stop()
      await member.link.close()
    }))
    redis.stop()
  }
}

function describe (figures: FleetFigures): string {
  return `${figures.pods} sidecars, ${figures.callsPerSecond.toFixed(0)} calls/s: Redis ${figures.commandsPerSecond.toFixed(0)} ` +
    `commands/s (${figures.scriptsPerSecond.toFixed(0)} scripts/s, ${figures.scriptMicros.toFixed(0)} µs each in Redis), ` +
    `CPU ${figures.cpuPercent.toFixed(1)} %, ${figures.memoryMiB.toFixed(1)} MiB; round trip p50 ${figures.p50.toFixed(2)} ms ` +
    `p99 ${figures.p99.toFixed(2)} ms; leases per sidecar ${figures.leasesPerPod.toFixed(2)}/s (max ${figures.leasesPerPodMax.toFixed(2)}); ` +
    `token exchanges ${figures.exchanges}; per command (calls/s): ` +
    figures.byCommand.map(([name, rate]) => `${name} ${rate.toFixed(1)}`).join(', ')
}

export const fleet100: Scenario = {
  name: 'fleet100',
  title: `A fleet of ${PODS} sidecars on one Redis: command rate, memory, CPU, latency, lease traffic per sidecar`,
  optIn: true,
  async run ({ settings, log }) {
    // Smaller fleets first, so the figures show how each grows with the number of sidecars.
    const sizes = settings.quick ? [PODS] : [25, 50, PODS]
    const runs: FleetFigures[] = []
    for (const pods of sizes) {
      runs.push(await runFleet(pods, settings.quick ? 5 : 30))
      log(`  ${describe(runs.at(-1)!)}`)
    }
    const full = runs.at(-1)!
    return {
      reference: 'none: figures of Redis itself under the fleet (docs/operations.md, "Sizing Redis")',
      metrics: [
        metric('calls served by the fleet', 'calls/s', full.callsPerSecond, null, 'ratio'),
        metric('Redis commands (scripts and the commands they run)', 'commands/s', full.commandsPerSecond, null, 'ratio'),
        metric('Redis script calls (leases, slots)', 'calls/s', full.scriptsPerSecond, null, 'ratio'),
        metric('Redis time per script call', 'µs', full.scriptMicros, null, 'ratio'),
        metric('Redis CPU (user + sys)', '%', full.cpuPercent, null, 'ratio'),
        metric('Redis used memory', 'MiB', full.memoryMiB, null, 'ratio'),
        metric('round trip p50 (lease, slot; client side)', 'ms', full.p50, null, 'ratio'),
        metric('round trip p99 (lease, slot; client side)', 'ms', full.p99, null, 'ratio'),
        metric('lease requests per sidecar', 'per s', full.leasesPerPod, null, 'ratio'),
        metric('token exchanges for the cold fleet', 'count', full.exchanges, null, 'ratio', { on: 'broker', op: '=', value: 1 })
      ],
      notes: [
        `in-process fleet members (real RedisLink, scripts and flushes), ${PER_POD_RATE} calls/s each over ${CALLERS} callers; ` +
          `half on a budget of ${BUDGET.perSecond}/s, one in ten also under a fleet-wide maxConcurrent of ${SLOT_LIMIT}`,
        ...runs.map(describe)
      ],
      samples: { runs }
    }
  }
}
