/**
 * The ops view's hour, for an SRE's three questions (`GET /admin/ops`): who (each caller's calls, errors and
 * refusals with its limits, queue and seats beside them), what fails (each integration's error rate and p50/p95/p99,
 * failures by status and code, the latest failures by request id) and how close to the limits (remaining over time
 * from the rate-limit headers seen, quota holds as spans, token exchanges per minute by outcome). Sums of the one
 * tally's cells and of the small hour counters (failure-log.ts, minute-counts.ts, limits/quota-state.ts): nothing is
 * counted twice. Names, numbers, ids and codes only.
 */
import type { IntegrationConfig } from '../config/schema.js'
import type { HoldSpan } from '../limits/quota-hold.js'
import type { HeadroomSample, UpstreamHeadroom } from '../limits/quota-state.js'
import type { QueueRow } from '../limits/seat-queue.js'
import { namesCaller, type CompiledRule } from '../policy/policy.js'
import type { FailureCount, FailureLog, RecentFailure } from './failure-log.js'
import type { MinuteCounts } from './minute-counts.js'
import { cellLatencyMs, compareLabels, emptyCell, mergeCell, outcomeCounts, pointsIn, usageFigures, type OutcomeCounts, type TallyCell } from './tally-cell.js'
import { MINUTE_MS, minuteIso } from '../minute-ring.js'
import { TALLY_MINUTES, type UsageTally } from './tally.js'
import type { OutcomeSelection } from './tally-views.js'

export interface HourSources {
  tally: UsageTally
  failures: FailureLog
  /** Token exchanges per minute, keyed `integration\u0000outcome` (usage.ts). */
  exchanges: MinuteCounts
  headroom: UpstreamHeadroom
  /** Quota holds active at any time since the given epoch ms (limits/quota-hold.ts). */
  holds: (since: number) => HoldSpan[]
  /** The live policy's rules: each caller's limits. */
  rules: () => readonly CompiledRule[]
  /** `limits.callerMaxConcurrent`: calls a caller may have in flight when its rule sets no maxConcurrent. */
  defaultMaxConcurrent: number
  integrations: Readonly<Record<string, IntegrationConfig>>
}

export interface CallerLimit {
  /** The rule's integration (a name or a glob). */
  integration: string
  perSecond: number | null
  burst: number | null
  rateLimitScope: 'pod' | 'fleet' | null
  maxConcurrent: number | null
  /** The rule's cap on this caller's Atlassian points per hour (docs/points.md). */
  pointsPerHour: number | null
}

export interface CallerHour {
  caller: string
  requests: number
  errors: number
  /** errors / requests, 0 to 1, rounded to 4 places. */
  errorRate: number
  /** Atlassian points the caller's calls cost in the hour, as estimated (docs/points.md). */
  points: number
  outcomes: OutcomeCounts
  /** Calls waiting for a seat now, and seats held now, over all integrations (this sidecar). */
  waiting: number
  seatsInUse: number
  /** The limits of every rule naming this caller (exactly or by glob); `maxConcurrent` null means the default. */
  limits: CallerLimit[]
}

export interface IntegrationHour {
  integration: string
  requests: number
  errors: number
  errorRate: number
  p50Ms: number | null
  p95Ms: number | null
  p99Ms: number | null
  /** Atlassian points its calls cost in the hour, as estimated. */
  points: number
  /** The integration's own budget (`integrations.<name>.budget`), null without one. */
  budget: { perSecond: number | null, burst: number | null, pointsPerHour: number | null } | null
  /** Remaining over the hour, one sample per minute with rate-limit headers. */
  headroom: HeadroomSample[]
  /** Token exchanges in the hour by outcome (ok, rejected, unavailable, error). */
  exchanges: Record<string, number>
}

export interface ExchangeMinute { minute: string, integration: string, outcome: string, count: number }

export interface OpsHour {
  callerHours: CallerHour[]
  integrationHours: IntegrationHour[]
  failures: { byCode: FailureCount[], recent: RecentFailure[] }
  holds: Array<{ integration: string, from: string, until: string }>
  /** Per minute with any exchange: integration × outcome counts (the chart's exchange marks). */
  exchangeMinutes: ExchangeMinute[]
  defaultMaxConcurrent: number
}

const rate = (errors: number, requests: number): number =>
  requests === 0 ? 0 : Math.round(errors / requests * 10_000) / 10_000

function limitsOf (caller: string, rules: readonly CompiledRule[]): CallerLimit[] {
  return rules.filter((rule) => namesCaller(rule, caller))
    .filter((rule) => [rule.rateLimit, rule.maxConcurrent, rule.pointsPerHour].some((limit) => limit !== undefined))
    .map((rule) => ({
      integration: rule.integration,
      perSecond: rule.rateLimit?.perSecond ?? null,
      burst: rule.rateLimit?.burst ?? null,
      rateLimitScope: rule.rateLimit === undefined ? null : rule.rateLimit.scope ?? 'pod',
      maxConcurrent: rule.maxConcurrent ?? null,
      pointsPerHour: rule.pointsPerHour ?? null
    }))
}

function add (totals: Map<string, TallyCell>, name: string, cell: TallyCell): void {
  let total = totals.get(name)
  if (total === undefined) { total = emptyCell(); totals.set(name, total) }
  mergeCell(total, cell)
}

export function opsHour (sources: HourSources, selection: OutcomeSelection, queues: QueueRow[]): OpsHour {
  const now = sources.tally.minute()
  const first = now - TALLY_MINUTES + 1
  const byCaller = new Map<string, TallyCell>()
  const byIntegration = new Map<string, TallyCell>()
  for (const series of sources.tally.series()) {
    if (selection.caller !== undefined && selection.caller !== series.caller) continue
    if (selection.integration !== undefined && selection.integration !== series.integration) continue
    for (const cell of series.cells(now)) {
      if (cell === undefined) continue
      add(byCaller, series.caller, cell)
      add(byIntegration, series.integration, cell)
    }
  }
  const inIntegration = (integration: string): boolean =>
    selection.integration === undefined || selection.integration === integration
  const rules = sources.rules()
  const exchangeTotals = sources.exchanges.lastHour()
  const callerHours = [...byCaller].map(([caller, cell]): CallerHour => {
    const figures = usageFigures(cell)
    const mine = queues.filter((row) => row.caller === caller)
    return {
      caller,
      requests: figures.requests,
      errors: figures.errors,
      errorRate: rate(figures.errors, figures.requests),
      points: pointsIn(cell),
      outcomes: outcomeCounts(cell),
      waiting: mine.reduce((sum, row) => sum + row.depth, 0),
      seatsInUse: mine.reduce((sum, row) => sum + row.seatsInUse, 0),
      limits: limitsOf(caller, rules)
    }
  }).sort((a, b) => b.requests - a.requests || compareLabels(a.caller, b.caller))
  const names = new Set([...Object.keys(sources.integrations), ...byIntegration.keys()].filter(inIntegration))
  const integrationHours = [...names].sort(compareLabels).map((integration): IntegrationHour => {
    const cell = byIntegration.get(integration) ?? emptyCell()
    const figures = usageFigures(cell)
    const budget = sources.integrations[integration]?.budget
    const exchanges: Record<string, number> = {}
    for (const [key, count] of exchangeTotals) {
      const [name, outcome = ''] = key.split('\u0000')
      if (name === integration) exchanges[outcome] = count
    }
    return {
      integration,
      requests: figures.requests,
      errors: figures.errors,
      errorRate: rate(figures.errors, figures.requests),
      p50Ms: figures.p50Ms,
      p95Ms: figures.p95Ms,
      p99Ms: cellLatencyMs(cell, 0.99),
      points: pointsIn(cell),
      budget: budget === undefined
        ? null
        : {
            perSecond: budget.perSecond ?? null,
            burst: budget.burst ?? null,
            pointsPerHour: budget.pointsPerHour ?? null
          },
      headroom: sources.headroom.hour(integration),
      exchanges
    }
  })
  const exchangeMinutes: ExchangeMinute[] = []
  for (const { minute, counts } of sources.exchanges.minutes()) {
    for (const [key, count] of counts) {
      const [integration = '', outcome = ''] = key.split('\u0000')
      if (!inIntegration(integration)) continue
      exchangeMinutes.push({ minute: minuteIso(minute), integration, outcome, count })
    }
  }
  const chosen = (entry: { caller?: string, integration: string }): boolean => inIntegration(entry.integration) &&
    (selection.caller === undefined || entry.caller === undefined || entry.caller === selection.caller)
  return {
    callerHours,
    integrationHours,
    failures: {
      byCode: sources.failures.lastHour().filter((entry) => inIntegration(entry.integration)),
      recent: sources.failures.recent().filter(chosen)
    },
    holds: sources.holds(first * MINUTE_MS).filter(chosen).map((span) => ({
      integration: span.integration, from: new Date(span.from).toISOString(), until: new Date(span.until).toISOString()
    })),
    exchangeMinutes,
    defaultMaxConcurrent: sources.defaultMaxConcurrent
  }
}
