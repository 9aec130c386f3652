/**
 * What a scenario is given (the running processes, the settings) and what it gives back (metrics, each the broker's
 * figure, the reference figure and how they compare). The reference is the bare passthrough except in "scale",
 * where it is the broker with the small config.
 */
import type { ConfigKind } from '../broker-config.js'
import type { BrokerProcess } from '../broker-process.js'
import type { ChildServer } from '../processes.js'
import type { UpstreamStats } from '../upstream.js'

export interface Settings {
  quick: boolean
  /** Seconds per measured run (saturation, fixed rate, scale). */
  durationS: number
  warmupS: number
  /** Broker and baseline runs alternate this many times; the median is reported. */
  rounds: number
  connections: number
  latencyRate: number
  latencyConnections: number
  herdSize: number
  downloadBytes: number
  uploadBytes: number
  memoryWarmCount: number
  memoryTotalCount: number
  memoryConnections: number
  /** Seconds the memory scenario may spend sending; fewer requests are sent when the count does not fit. */
  memoryBudgetS: number
}

export const FULL: Settings = {
  quick: false,
  durationS: 8,
  warmupS: 2,
  rounds: 3,
  connections: 50,
  latencyRate: 2_000,
  latencyConnections: 20,
  herdSize: 1_000,
  downloadBytes: 1_073_741_824,
  uploadBytes: 268_435_456,
  memoryWarmCount: 10_000,
  memoryTotalCount: 1_000_000,
  memoryConnections: 100,
  memoryBudgetS: 300
}

export const QUICK: Settings = {
  quick: true,
  durationS: 1,
  warmupS: 0.5,
  rounds: 1,
  connections: 20,
  latencyRate: 500,
  latencyConnections: 10,
  herdSize: 300,
  downloadBytes: 16_777_216,
  uploadBytes: 8_388_608,
  memoryWarmCount: 500,
  memoryTotalCount: 2_000,
  memoryConnections: 20,
  memoryBudgetS: 20
}

export interface Server { url: string, pid: number }

export interface BenchContext {
  settings: Settings
  upstream: Server & { stats: () => Promise<UpstreamStats>, reset: () => Promise<void> }
  /** Long-lived, warm (token cache filled): the small config. */
  broker: BrokerProcess & Server
  baseline: ChildServer<{ url: string }> & Server
  /** A fresh broker (empty caches); the scenario stops it. */
  startBroker: (kind: ConfigKind, overrides?: Record<string, unknown>) => Promise<BrokerProcess & Server>
  /** A fresh bare passthrough, in front of the bench's Node upstream unless another is given. */
  startBaseline: (upstreamUrl?: string) => Promise<ChildServer<{ url: string }> & Server>
  /** taskset CPU lists: the proxy under test, and the load generator with the upstream (undefined: not pinned). */
  cpus: { proxy: string | undefined, load: string | undefined }
  log: (line: string) => void
  /** --cpu-prof: where a scenario that starts its own broker writes that broker's profile. */
  profileDir: string | undefined
}

export interface Target {
  /** What the target is about: the broker's own figure, or the comparison (ratio or difference). */
  on: 'broker' | 'comparison'
  op: '>=' | '<' | '='
  value: number
}

export interface Metric {
  name: string
  unit: string
  broker: number
  /** The reference figure; null where the baseline has nothing to compare (token exchanges). */
  baseline: number | null
  /** broker / baseline, or broker - baseline for latencies. */
  compare: 'ratio' | 'difference'
  value: number | null
  target?: Target | undefined
  pass?: boolean | undefined
}

export interface ScenarioResult {
  name: string
  title: string
  /** What the reference column is in this scenario. */
  reference: string
  metrics: Metric[]
  notes: string[]
  /** Raw samples of every run, for comparing two runs in detail. */
  samples: Record<string, unknown>
  error?: string
}

export interface Scenario {
  name: string
  title: string
  /** Runs only when named in --only (too long or too heavy for the default run). */
  optIn?: boolean
  run: (context: BenchContext) => Promise<Omit<ScenarioResult, 'name' | 'title'>>
}

export function metric (name: string, unit: string, broker: number, baseline: number | null, compare: Metric['compare'], target?: Target): Metric {
  const value = baseline === null ? null : compare === 'ratio' ? broker / baseline : broker - baseline
  const subject = target?.on === 'broker' ? broker : value
  const pass = target === undefined || subject === null
    ? undefined
    : target.op === '>=' ? subject >= target.value : target.op === '<' ? subject < target.value : subject === target.value
  return { name, unit, broker, baseline, compare, value, target, pass }
}

export function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

/**
 * Runs broker and baseline in turn, `rounds` times, swapping who goes first each round, so the machine's drift
 * (other jobs, thermal, GC state) falls on both.
 */
export async function alternate<T> (
  rounds: number,
  runs: { broker: () => Promise<T>, baseline: () => Promise<T> }
): Promise<{ broker: T[], baseline: T[] }> {
  const broker: T[] = []
  const baseline: T[] = []
  for (let round = 0; round < rounds; round++) {
    if (round % 2 === 0) {
      baseline.push(await runs.baseline())
      broker.push(await runs.broker())
    } else {
      broker.push(await runs.broker())
      baseline.push(await runs.baseline())
    }
  }
  return { broker, baseline }
}
