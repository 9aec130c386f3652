/**
 * The broker's Prometheus metrics, in a Registry of its own (never prom-client's global one, so two brokers in one
 * process, as in tests, do not share counters). Every label value is bounded (labels.ts); none can carry a secret.
 */
import { Counter, Gauge, Histogram, Registry } from './prom-parts.js'
import type { ExchangeOutcome } from '../tokens/token-provider.js'
import { normaliseReason, type UpstreamRateLimit } from '../atlassian/rate-limit-headers.js'
import { UNKNOWN_INTEGRATION, type Labels } from './labels.js'
import type { ProxiedCall } from './proxied-call.js'
import { callOutcome, type CallOutcome } from './call-outcome.js'
import { thresholdSeconds, type ExpiryThresholds } from '../credentials/expiry-rule.js'
import type { QueueOutcome, QueueRow } from '../limits/seat-queue.js'
import { labelledQueueRows } from './queue-rows.js'
import { CellCounter, CellHistogram, type CounterCell, type HistogramCell } from './metric-cells.js'

/** The `source` label of a 429, from the one classification of a call (call-outcome.ts). */
const RATE_LIMIT_SOURCES: Readonly<Partial<Record<CallOutcome, string>>> = {
  callerLimited: 'caller_limit',
  quotaHeld: 'quota_hold',
  atlassianLimited: 'upstream'
}
const rateLimitSource = (call: ProxiedCall): string => RATE_LIMIT_SOURCES[callOutcome(call)] ?? 'other'

/** The series one caller's calls to one integration update, found once per pair (metric-cells.ts). */
interface CallCells {
  /** By method and status class: `GET 2xx`. */
  readonly requests: Map<string, CounterCell>
  /** By tool and status class, for MCP tools' calls. */
  readonly toolCalls: Map<string, CounterCell>
  readonly duration: HistogramCell
  readonly upstreamDuration: HistogramCell
  readonly bytesIn: CounterCell
  readonly bytesOut: CounterCell
  readonly points: CounterCell
}

const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
const EXCHANGE_RESULTS: readonly ExchangeOutcome[] = ['ok', 'rejected', 'unavailable', 'error']

export interface BrokerMetricsOptions {
  labels: Labels
  /** The secret store's kind (`file`, `vault`): the `store` label. */
  storeKind: string
  /** Integration -> expiry as Unix seconds (CredentialExpiry.timestamps), and the configured expiry thresholds. */
  expiry?: { timestamps (): Promise<ReadonlyMap<string, number>>, readonly thresholds: ExpiryThresholds }
}

export class BrokerMetrics {
  readonly registry = new Registry()
  readonly #labels: Labels
  readonly #storeKind: string
  readonly #requests: CellCounter<'caller' | 'integration' | 'method' | 'status_class'>
  readonly #duration: CellHistogram<'caller' | 'integration'>
  readonly #upstreamDuration: CellHistogram<'integration'>
  readonly #exchanges: Counter<'integration' | 'result'>
  readonly #cacheLookups: CellCounter<'integration' | 'result'>
  readonly #refreshSuppressed: Counter<'integration'>
  readonly #upstreamRateLimited: Counter<'integration' | 'reason'>
  readonly #rateLimitedResponses: Counter<'caller' | 'integration' | 'source'>
  readonly #secretStoreErrors: Counter<'store'>
  readonly #bytesIn: CellCounter<'caller' | 'integration'>
  readonly #bytesOut: CellCounter<'caller' | 'integration'>
  readonly #points: CellCounter<'caller' | 'integration'>
  readonly #reloads: Counter<'outcome'>
  readonly #queueWait: Histogram<'caller' | 'integration' | 'outcome'>
  readonly #toolCalls: CellCounter<'caller' | 'integration' | 'tool' | 'status_class'>
  /** Caller label -> integration label -> its cells; both labels are bounded (labels.ts), so is this. */
  readonly #callCells = new Map<string, Map<string, CallCells>>()
  /** Integration label -> its cache lookups' hit and miss cells. */
  readonly #lookupCells = new Map<string, { hit: CounterCell, miss: CounterCell }>()
  #queueRows: () => readonly QueueRow[] = () => []

  constructor (options: BrokerMetricsOptions) {
    this.#labels = options.labels
    this.#storeKind = options.storeKind
    const registry = this.registry
    const registers = [registry]
    this.#requests = new CellCounter({ name: 'atlassian_broker_requests_total', help: 'Proxied requests by caller, integration, method and status class.', labelNames: ['caller', 'integration', 'method', 'status_class'], registry })
    this.#duration = new CellHistogram({ name: 'atlassian_broker_request_duration_seconds', help: 'Time from a proxied request\'s arrival to the end of its answer.', labelNames: ['caller', 'integration'], buckets: SECONDS_BUCKETS, registry })
    this.#upstreamDuration = new CellHistogram({ name: 'atlassian_broker_upstream_duration_seconds', help: 'Time until Atlassian\'s response headers (retries included).', labelNames: ['integration'], buckets: SECONDS_BUCKETS, registry })
    this.#exchanges = new Counter({ name: 'atlassian_broker_token_exchanges_total', help: 'Client-credentials token exchanges by integration and result (ok, rejected, unavailable, error).', labelNames: ['integration', 'result'], registers })
    this.#cacheLookups = new CellCounter({ name: 'atlassian_broker_token_cache_lookups_total', help: 'Access-token cache lookups by integration and result (hit, miss).', labelNames: ['integration', 'result'], registry })
    this.#refreshSuppressed = new Counter({ name: 'atlassian_broker_token_refresh_suppressed_total', help: 'Atlassian 401 "scope does not match" answers passed back without a token refresh (the integration is in scope-refusal cooldown).', labelNames: ['integration'], registers })
    this.#upstreamRateLimited = new Counter({ name: 'atlassian_broker_upstream_rate_limited_total', help: 'Atlassian 429 answers by integration and RateLimit-Reason (known reasons, none, other).', labelNames: ['integration', 'reason'], registers })
    this.#rateLimitedResponses = new Counter({ name: 'atlassian_broker_rate_limited_responses_total', help: '429 answers to callers by source: caller_limit (policy rateLimit/maxConcurrent), quota_hold (integration paused after a quota 429), upstream (Atlassian\'s own).', labelNames: ['caller', 'integration', 'source'], registers })
    this.#secretStoreErrors = new Counter({ name: 'atlassian_broker_secret_store_errors_total', help: 'Proxied calls that failed because the secret store was unavailable or refused.', labelNames: ['store'], registers })
    this.#bytesIn = new CellCounter({ name: 'atlassian_broker_request_bytes_total', help: 'Request body bytes sent upstream, by caller.', labelNames: ['caller', 'integration'], registry })
    this.#bytesOut = new CellCounter({ name: 'atlassian_broker_response_bytes_total', help: 'Response body bytes sent to callers, by caller.', labelNames: ['caller', 'integration'], registry })
    this.#points = new CellCounter({ name: 'atlassian_broker_points_total', help: 'Atlassian points spent by caller, as the broker estimates them (1 per answer plus 1 per object a counted list returns; docs/points.md).', labelNames: ['caller', 'integration'], registry })
    this.#reloads = new Counter({ name: 'atlassian_broker_config_reload_total', help: 'Config reloads (SIGHUP or file watch) by outcome: applied, unchanged, rejected.', labelNames: ['outcome'], registers })
    for (const outcome of ['applied', 'unchanged', 'rejected']) this.#reloads.inc({ outcome }, 0)
    this.#queueWait = new Histogram({ name: 'atlassian_broker_queue_wait_seconds', help: 'Time a call waited in its caller\'s queue for a seat, by how it ended: admitted, full (refused at once), timeout, gone (the caller left). Calls admitted without waiting are not observed.', labelNames: ['caller', 'integration', 'outcome'], buckets: SECONDS_BUCKETS, registers })
    // Tool names are the broker's own fixed list (src/mcp/), never request text: the label stays bounded.
    this.#toolCalls = new CellCounter({ name: 'atlassian_broker_tool_calls_total', help: 'REST calls MCP tools made (also counted in atlassian_broker_requests_total), by caller, integration, tool and status class.', labelNames: ['caller', 'integration', 'tool', 'status_class'], registry })
    const queueDepth: Gauge<'caller' | 'integration'> = new Gauge({
      name: 'atlassian_broker_queued_calls',
      help: 'Calls waiting in the caller\'s queue for a seat of the integration, at scrape time.',
      labelNames: ['caller', 'integration'],
      registers,
      collect: () => {
        queueDepth.reset()
        for (const row of labelledQueueRows(this.#queueRows(), this.#labels)) {
          queueDepth.set({ caller: row.caller, integration: row.integration }, row.depth)
        }
      }
    })
    const expiry = options.expiry
    if (expiry !== undefined) {
      // A timestamp in base units, as Prometheus names it; alerts compute the time left with `- time()`.
      const expiryTimestamp: Gauge<'integration'> = new Gauge({
        name: 'atlassian_broker_credential_expiry_timestamp_seconds',
        help: 'When the credential expires, as Unix seconds (secret metadata expires_at); absent when no expiry is recorded.',
        labelNames: ['integration'],
        registers,
        collect: async () => {
          const timestamps = await expiry.timestamps()
          expiryTimestamp.reset()
          for (const [integration, seconds] of timestamps) expiryTimestamp.set({ integration }, seconds)
        }
      })
      // The broker's own thresholds, so alerts compare against them instead of repeating numbers that could drift:
      // `expiry - time() < threshold` is the rule's "at or under N whole days" (expiry-rule.ts).
      const threshold: Gauge<'level'> = new Gauge({
        name: 'atlassian_broker_credential_expiry_threshold_seconds',
        help: 'Time left before expiry (seconds) under which a credential is at this level (warning, critical): (days + 1) x 86400 for credentials.expiryWarning, since days left count down whole.',
        labelNames: ['level'],
        registers
      })
      threshold.set({ level: 'warning' }, thresholdSeconds(expiry.thresholds.warnDays))
      threshold.set({ level: 'critical' }, thresholdSeconds(expiry.thresholds.criticalDays))
    }
    // Series that alerts rate() over exist from the start, so the first failure is an increase from 0.
    this.#secretStoreErrors.inc({ store: this.#storeKind }, 0)
    for (const integration of this.#labels.integrations) {
      if (integration === UNKNOWN_INTEGRATION) continue
      for (const result of EXCHANGE_RESULTS) this.#exchanges.inc({ integration, result }, 0)
      this.#refreshSuppressed.inc({ integration }, 0)
    }
  }

  /** `caller` and `integration` are the call's bounded labels (usage.ts works them out once for every consumer). */
  record (call: ProxiedCall, caller: string, integration: string): void {
    const cells = this.#cellsOf(caller, integration)
    const statusClass = this.#labels.statusClass(call.statusCode)
    const method = this.#labels.method(call.method)
    countIn(cells.requests, `${method} ${statusClass}`, () => this.#requests.cell({ caller, integration, method, status_class: statusClass }))
    const tool = call.tool
    if (tool !== undefined) {
      countIn(cells.toolCalls, `${tool} ${statusClass}`, () => this.#toolCalls.cell({ caller, integration, tool, status_class: statusClass }))
    }
    this.#duration.observe(cells.duration, call.durationMs / 1000)
    if (call.upstreamMs !== undefined) this.#upstreamDuration.observe(cells.upstreamDuration, call.upstreamMs / 1000)
    if (call.bytesIn > 0) cells.bytesIn.value += call.bytesIn
    if (call.bytesOut > 0) cells.bytesOut.value += call.bytesOut
    if (call.points > 0) cells.points.value += call.points
    if (call.errorCode?.startsWith('BROKER_ERR_SECRET_STORE_') === true) this.#secretStoreErrors.inc({ store: this.#storeKind })
    if (call.statusCode === 429) this.#rateLimitedResponses.inc({ caller, integration, source: rateLimitSource(call) })
  }

  #cellsOf (caller: string, integration: string): CallCells {
    let byIntegration = this.#callCells.get(caller)
    if (byIntegration === undefined) {
      byIntegration = new Map()
      this.#callCells.set(caller, byIntegration)
    }
    let cells = byIntegration.get(integration)
    if (cells === undefined) {
      const pair = { caller, integration }
      cells = {
        requests: new Map(),
        toolCalls: new Map(),
        duration: this.#duration.cell(pair),
        upstreamDuration: this.#upstreamDuration.cell({ integration }),
        bytesIn: this.#bytesIn.cell(pair),
        bytesOut: this.#bytesOut.cell(pair),
        points: this.#points.cell(pair)
      }
      byIntegration.set(integration, cells)
    }
    return cells
  }

  onExchange (integration: string, outcome: ExchangeOutcome): void {
    this.#exchanges.inc({ integration: this.#labels.integration(integration), result: outcome })
  }

  onCacheLookup (integration: string, hit: boolean): void {
    const label = this.#labels.integration(integration)
    let cells = this.#lookupCells.get(label)
    if (cells === undefined) {
      cells = {
        hit: this.#cacheLookups.cell({ integration: label, result: 'hit' }),
        miss: this.#cacheLookups.cell({ integration: label, result: 'miss' })
      }
      this.#lookupCells.set(label, cells)
    }
    (hit ? cells.hit : cells.miss).value++
  }

  onRefreshSuppressed (integration: string): void {
    this.#refreshSuppressed.inc({ integration: this.#labels.integration(integration) })
  }

  /** The seat queues, read at each scrape for the depth gauge. */
  watchQueue (rows: () => readonly QueueRow[]): void {
    this.#queueRows = rows
  }

  /** A call that waited (or was refused a place) in its caller's queue (src/limits/seat-queue.ts). */
  onQueueWait (caller: string, integration: string, waitedMs: number, outcome: QueueOutcome): void {
    const labels = { caller: this.#labels.caller(caller), integration: this.#labels.integration(integration), outcome }
    this.#queueWait.observe(labels, waitedMs / 1000)
  }

  onReload (outcome: 'applied' | 'unchanged' | 'rejected'): void {
    this.#reloads.inc({ outcome })
  }

  /** Every upstream answer, retried ones included: a 429 the caller never saw still spent Atlassian's budget. */
  onUpstreamResponse (integration: string, statusCode: number, rateLimit: UpstreamRateLimit): void {
    if (statusCode !== 429) return
    this.#upstreamRateLimited.inc({
      integration: this.#labels.integration(integration),
      reason: normaliseReason(rateLimit.reason)
    })
  }

  get contentType (): string { return this.registry.contentType }

  text (): Promise<string> { return this.registry.metrics() }
}

/** Adds one to the cell under `key`, made by `make` at first use. */
function countIn (cells: Map<string, CounterCell>, key: string, make: () => CounterCell): void {
  let cell = cells.get(key)
  if (cell === undefined) {
    cell = make()
    cells.set(key, cell)
  }
  cell.value++
}
