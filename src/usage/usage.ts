/**
 * Usage, assembled once per broker: metrics, the per-minute tally and the optional call audit, all fed from the one
 * ProxiedCall per request (http/call-record.ts) and the token and upstream hooks. broker.ts wires it; nothing here is
 * global.
 */
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import type { BrokerConfig } from '../config/schema.js'
import { integrationNamed } from '../config/integration-lookup.js'
import type { CredentialExpiry } from '../credentials/expiry.js'
import { CallAudit } from './call-audit.js'
import { FailureLog } from './failure-log.js'
import { MinuteCounts } from './minute-counts.js'
import { createLabels, type Labels } from './labels.js'
import { BrokerMetrics } from './metrics.js'
import type { ProxiedCall, UsageSink } from './proxied-call.js'
import { UpstreamHeadroom } from '../limits/quota-state.js'
import { UsageTally } from './tally.js'
import type { ExchangeOutcome } from '../tokens/token-provider.js'

export interface UsageDeps {
  /** The secret store's kind (`file`, `vault`): the metrics' `store` label. */
  storeKind: string
  /** The broker's one expiry reader: the expiry gauge. */
  expiry: CredentialExpiry
  /** The live policy: its callers named exactly (Policy.knownCallers, read at each call) are the caller labels. */
  policy: { readonly knownCallers: ReadonlySet<string> }
  clock: Clock
  logger: Logger
}

export class Usage implements UsageSink {
  readonly labels: Labels
  readonly metrics: BrokerMetrics | undefined
  /** Per caller × integration × minute, the last hour: `/admin/usage`, the ops view and the fleet view read it. */
  readonly tally: UsageTally
  /** Atlassian's latest rate-limit headers per integration (fed by the forwarder's onUpstreamResponse). */
  readonly headroom: UpstreamHeadroom
  readonly audit: CallAudit | undefined
  /** The last hour's failures by status and code, and the latest ones by request id (the ops page's "what fails"). */
  readonly failures: FailureLog
  /** Token exchanges per integration × outcome per minute, the last hour (keys `integration\u0000outcome`). */
  readonly exchanges: MinuteCounts

  constructor (config: BrokerConfig, deps: UsageDeps) {
    // Both read live (config.integrations is LiveConfig's object), so names a reload adds are counted by name.
    this.labels = createLabels(config.integrations, deps.policy)
    this.tally = new UsageTally({ clock: deps.clock })
    this.failures = new FailureLog({ clock: deps.clock })
    this.exchanges = new MinuteCounts(deps.clock)
    // Read live: config.integrations is the reloadable set (src/config/live-config.ts).
    this.headroom = new UpstreamHeadroom({
      clock: deps.clock,
      integrations: (name) => integrationNamed(config.integrations, name) !== undefined
    })
    this.metrics = config.metrics.enabled
      ? new BrokerMetrics({
        labels: this.labels,
        storeKind: deps.storeKind,
        expiry: deps.expiry
      })
      : undefined
    this.audit =
      config.usage.auditFile === undefined
        ? undefined
        : new CallAudit(config.usage.auditFile, deps.logger, { maxFileBytes: config.usage.maxFileBytes })
  }

  record (call: ProxiedCall): void {
    // Labels once per call, for both the metrics and the tally.
    const caller = this.labels.caller(call.caller)
    const integration = this.labels.integration(call.integration)
    this.metrics?.record(call, caller, integration)
    this.tally.record(caller, integration, call)
    if (call.integration !== undefined) this.headroom.pools.charge(call.integration, call.points)
    this.failures.record(caller, integration, call)
    this.audit?.record(call)
  }

  /** Every client-credentials exchange (the token provider's onExchange). */
  onExchange (integration: string, outcome: ExchangeOutcome): void {
    this.metrics?.onExchange(integration, outcome)
    this.exchanges.add(`${this.labels.integration(integration)}\u0000${outcome}`)
  }

  async close (): Promise<void> {
    await this.audit?.close()
  }
}
