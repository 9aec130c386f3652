/**
 * Fleet-wide usage from small per-minute aggregates. Every 10 s each sidecar writes what it saw in the current and
 * the previous minute into one hash per minute (field `pod \0 caller \0 integration`, value the five counters), with
 * a two-hour TTL: a write overwrites the pod's own figures, so repeats and restarts never double-count. Reading the
 * fleet view is one HGETALL per minute of the last hour. Counters only (no latency quantiles: those stay per pod,
 * in Prometheus). Fields that do not parse (garbage, another writer) are skipped.
 */
import type { Clock } from '../clock.js'
import type { UsageWindow } from '../usage/usage-window.js'
import type { FleetKeys } from './keys.js'
import type { RedisLink } from './redis-link.js'

const MINUTE_MS = 60_000
const FLUSH_MS = 10_000
const TTL_SECONDS = 7_200
const COUNTERS = ['requests', 'errors', 'rateLimited', 'bytesIn', 'bytesOut'] as const

type Counters = Record<(typeof COUNTERS)[number], number>

/** Counters in the shape of the pod view's figures; latency quantiles are per pod only (null here). */
type Figures = Counters & { p50Ms: null, p95Ms: null }

export interface FleetUsageSeries {
  caller: string
  integration: string
  last5m: Figures
  last1h: Figures
  /** The fleet keeps two hours of minutes: "since start" is the last hour here. */
  sinceStart: Figures
  byPod: Record<string, { last5m: number, last1h: number }>
}

export interface FleetUsageSnapshot {
  scope: 'fleet'
  generatedAt: string
  /** The start of the hour shown. */
  startedAt: string
  /** False when Redis could not answer every minute: the figures are then a lower bound. */
  complete: boolean
  pods: Array<{ pod: string, last5m: number, last1h: number }>
  series: FleetUsageSeries[]
}

export class FleetUsage {
  readonly #link: RedisLink
  readonly #keys: FleetKeys
  readonly #clock: Clock
  readonly #pod: string
  readonly #window: UsageWindow
  #timer: NodeJS.Timeout | undefined

  constructor (options: { link: RedisLink, keys: FleetKeys, clock: Clock, pod: string, window: UsageWindow }) {
    this.#link = options.link
    this.#keys = options.keys
    this.#clock = options.clock
    this.#pod = options.pod
    this.#window = options.window
  }

  start (): void {
    this.#timer = setInterval(() => { void this.flush() }, FLUSH_MS)
    this.#timer.unref()
  }

  async stop (): Promise<void> {
    clearInterval(this.#timer)
    await this.flush()
  }

  /** Writes this pod's current and previous minute. */
  async flush (): Promise<void> {
    const now = Math.floor(this.#clock.now() / MINUTE_MS)
    for (const minute of [now - 1, now]) {
      const entries = this.#window.minute(minute)
      if (entries.length === 0) continue
      const fields: string[] = []
      for (const { caller, integration, figures } of entries) {
        fields.push(`${this.#pod}\u0000${caller}\u0000${integration}`, COUNTERS.map((name) => figures[name]).join(','))
      }
      const key = this.#keys.usage(minute)
      await this.#link.run(async (redis) => await redis.multi().hset(key, ...fields).expire(key, TTL_SECONDS).exec())
    }
  }

  async snapshot (): Promise<FleetUsageSnapshot> {
    await this.flush()
    const now = Math.floor(this.#clock.now() / MINUTE_MS)
    const minutes = Array.from({ length: 60 }, (_unused, back) => now - back)
    const hashes = await Promise.all(
      minutes.map(async (minute) => ({
        minute,
        fields: await this.#link.run((redis) => redis.hgetall(this.#keys.usage(minute)))
      }))
    )
    const series = new Map<string, { caller: string, integration: string, last5m: Counters, last1h: Counters, byPod: FleetUsageSeries['byPod'] }>()
    const pods = new Map<string, { pod: string, last5m: number, last1h: number }>()
    for (const { minute, fields } of hashes) {
      if (fields === undefined) continue
      const recent = minute > now - 5
      for (const [field, value] of Object.entries(fields)) {
        const [pod, caller, integration, extra] = field.split('\u0000')
        const counts = value.split(',').map(Number)
        if (
          pod === undefined ||
          caller === undefined ||
          integration === undefined ||
          extra !== undefined ||
          counts.length !== COUNTERS.length ||
          !counts.every(Number.isFinite)
        ) { continue }
        const id = `${caller}\u0000${integration}`
        let entry = series.get(id)
        if (entry === undefined) {
          entry = { caller, integration, last5m: zero(), last1h: zero(), byPod: {} }
          series.set(id, entry)
        }
        const perPod = entry.byPod[pod] ?? { last5m: 0, last1h: 0 }
        entry.byPod[pod] = perPod
        const podTotal = pods.get(pod) ?? { pod, last5m: 0, last1h: 0 }
        pods.set(pod, podTotal)
        COUNTERS.forEach((name, index) => {
          entry.last1h[name] += counts[index] as number
          if (recent) entry.last5m[name] += counts[index] as number
        })
        perPod.last1h += counts[0] as number
        podTotal.last1h += counts[0] as number
        if (recent) { perPod.last5m += counts[0] as number; podTotal.last5m += counts[0] as number }
      }
    }
    return {
      scope: 'fleet',
      generatedAt: new Date(this.#clock.now()).toISOString(),
      startedAt: new Date((now - 59) * MINUTE_MS).toISOString(),
      complete: hashes.every(({ fields }) => fields !== undefined),
      pods: [...pods.values()].sort((a, b) => a.pod.localeCompare(b.pod)),
      series: [...series.values()]
        .sort((a, b) => a.caller.localeCompare(b.caller) || a.integration.localeCompare(b.integration))
        .map((entry) => ({
          ...entry,
          last5m: figures(entry.last5m),
          last1h: figures(entry.last1h),
          sinceStart: figures(entry.last1h)
        }))
    }
  }
}

function figures (counters: Counters): Figures {
  return { ...counters, p50Ms: null, p95Ms: null }
}

function zero (): Counters {
  return { requests: 0, errors: 0, rateLimited: 0, bytesIn: 0, bytesOut: 0 }
}
