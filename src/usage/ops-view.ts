/**
 * What the ops page shows besides usage totals, in one JSON document (`GET /admin/ops`): calls per minute by outcome
 * for the selected caller and integration, the credentials panel, Atlassian headroom with active quota holds, and the
 * seat queues (calls waiting per caller), and the calls MCP tools made per caller × tool; the hour by caller and by
 * integration (ops-hour.ts); the loaded config's hash and the last refused reload.
 * Built from names, counts, versions and dates only: no credential, token or caller JWT can reach it.
 */
import type { Clock } from '../clock.js'
import { CALL_OUTCOMES } from './call-outcome.js'
import type { UsageTally } from './tally.js'
import { compareLabels, usageFigures } from './tally-cell.js'
import { outcomeView, type OutcomeSelection, type OutcomeView } from './tally-views.js'
import type { HeadroomEntry, UpstreamHeadroom } from '../limits/quota-state.js'
import type { PoolRow } from '../limits/point-pools.js'
import { integrationStates, type StateSources } from '../credentials/integration-state.js'
import { hoursUntil, type ExpiryState, type ExpiryThresholds } from '../credentials/expiry-rule.js'
import type { QueueRow } from '../limits/seat-queue.js'
import type { LoadedState, RefusedReload } from '../config/live-config.js'
import { opsHour, type HourSources, type OpsHour } from './ops-hour.js'

export interface OpsSources extends StateSources, HourSources {
  clock: Clock
  /** The one usage tally: the per-minute outcomes come from it. */
  tally: UsageTally
  headroom: UpstreamHeadroom
  /** Epoch ms until which an integration's traffic is held after a quota 429 (limits/quota-hold.ts). */
  heldUntil: (integration: string) => number | undefined
  /** Every caller waiting for or holding a seat, in bounded labels (queue-rows.ts). */
  queues: () => QueueRow[]
  startedAt: number
  /** The loaded config (config/live-config.ts): its hash, when it was loaded, the last reload refused. */
  config: () => { state: LoadedState, lastRefused: RefusedReload | null }
  /** Whether fleet mode is on (the page then shows its scope switch). */
  fleet: boolean
}

export interface ConfigView extends LoadedState { lastRefused: RefusedReload | null }

export interface CredentialRow {
  integration: string
  product: string
  credential: string
  store: string
  storeVersion: number | null
  versionInUse: number | null
  rotatedAt: string | null
  rotatedBy: string | null
  owner: string | null
  expiresAt: string | null
  daysToExpiry: number | null
  /** Hours to `expiresAt` at `generatedAt`, one decimal (negative once expired): the page shows hours under two days,
   * where whole days say too little ("1 day" for 47.9 hours). Null without a recorded expiry. */
  hoursToExpiry: number | null
  /** The one expiry rule's verdict (credentials/expiry-rule.ts): `ok`, `warning`, `critical`, `expired`, or null
   * without a recorded expiry. The page shows it as sent and never recomputes thresholds. */
  expiryLevel: ExpiryState | null
  /** OAuth: when the cached access token expires; null when none is cached (or for API tokens). */
  tokenCachedUntil: string | null
  lastExchange: { at: string, outcome: string } | null
  /** While Atlassian refuses this integration's fresh tokens for a missing scope, token refresh on such 401s is paused
   * until then (tokens/scope-refusals.ts); null otherwise. */
  scopeRefusalUntil: string | null
  storeError: string | null
}

export interface HeadroomRow {
  integration: string
  /** The quota hold's end, ISO 8601, while one is active. */
  heldUntil: string | null
  latest: HeadroomEntry | null
  /** Atlassian's points pools of this integration as last seen, per policy name (src/limits/point-pools.ts). */
  pools: PoolRow[]
}

export interface OpsSnapshot extends OutcomeView, OpsHour {
  generatedAt: string
  fleet: boolean
  config: ConfigView
  startedAt: string
  selection: { caller: string | null, integration: string | null }
  outcomes: readonly string[]
  /** `credentials.expiryWarning`, for the page's legend. */
  thresholds: ExpiryThresholds
  credentials: CredentialRow[]
  headroom: HeadroomRow[]
  /** Per integration × caller matching the selection: calls waiting, seats held, the oldest wait (ms). */
  queues: QueueRow[]
  /** REST calls MCP tools made since start, per caller × tool (the caller selection applies). */
  tools: ToolRow[]
}

export interface ToolRow { caller: string, tool: string, calls: number, errors: number }

function scopeRefusalUntil (sources: OpsSources, integration: string): string | null {
  const until = sources.tokens.state(integration).scopeRefusalUntil
  return until === undefined ? null : new Date(until).toISOString()
}

export async function opsSnapshot (sources: OpsSources, selection: OutcomeSelection): Promise<OpsSnapshot> {
  const clock: Clock = sources.clock
  const now = clock.now()
  const names = Object.keys(sources.integrations).sort()
  const states = await integrationStates(sources, names)
  const latest = new Map(sources.headroom.entries().map((entry) => [entry.integration, entry]))
  const pools = sources.headroom.pools.rows()
  const queues = sources.queues()
  const config = sources.config()
  return {
    generatedAt: new Date(now).toISOString(),
    fleet: sources.fleet,
    config: { ...config.state, lastRefused: config.lastRefused },
    startedAt: new Date(sources.startedAt).toISOString(),
    selection: { caller: selection.caller ?? null, integration: selection.integration ?? null },
    outcomes: CALL_OUTCOMES,
    thresholds: { ...sources.expiry.thresholds },
    ...outcomeView(sources.tally, selection),
    credentials: states.map((state): CredentialRow => ({
      integration: state.integration,
      product: state.product,
      credential: state.credential,
      store: sources.store.kind,
      storeVersion: state.storeVersion,
      versionInUse: state.versionInUse,
      rotatedAt: state.rotatedAt,
      rotatedBy: state.rotatedBy,
      owner: state.owner,
      expiresAt: state.expiresAt,
      daysToExpiry: state.daysToExpiry,
      hoursToExpiry: state.expiresAt === null ? null : (hoursUntil(state.expiresAt, now) ?? null),
      expiryLevel: state.expiryLevel,
      tokenCachedUntil: state.accessToken?.cached === true && state.accessToken.expiresInSeconds !== null
        ? new Date(now + state.accessToken.expiresInSeconds * 1000).toISOString()
        : null,
      lastExchange: state.lastExchange ?? null,
      scopeRefusalUntil: scopeRefusalUntil(sources, state.integration),
      storeError: state.storeError ?? null
    })),
    headroom: names.map((integration): HeadroomRow => {
      const held = sources.heldUntil(integration)
      return {
        integration,
        heldUntil: held === undefined ? null : new Date(held).toISOString(),
        latest: latest.get(integration) ?? null,
        pools: pools.filter((pool) => pool.integration === integration)
      }
    }),
    tools: [...sources.tally.toolSeries()]
      .filter((series) => selection.caller === undefined || series.caller === selection.caller)
      .map((series): ToolRow => {
        const figures = usageFigures(series.total)
        return { caller: series.caller, tool: series.tool, calls: figures.requests, errors: figures.errors }
      })
      .sort((a, b) => compareLabels(a.tool, b.tool) || compareLabels(a.caller, b.caller)),
    ...opsHour(sources, selection, queues),
    queues: queues.filter((row) =>
      (selection.caller === undefined || row.caller === selection.caller) &&
      (selection.integration === undefined || row.integration === selection.integration))
  }
}
