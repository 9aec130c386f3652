/**
 * Fleet mode, assembled: the Redis link, the shared token cache, the shared quota hold and the event channel, wired
 * to a broker's own TokenProvider, QuotaHold and CredentialSource. broker.ts imports this module lazily, only when
 * `fleet` is configured, so a single sidecar never loads the Redis client.
 */
import { hostname } from 'node:os'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { Clock } from '../clock.js'
import type { BrokerConfig, FleetConfig } from '../config/schema.js'
import type { QuotaHold } from '../limits/quota-hold.js'
import type { CredentialSource } from '../secrets/credential-source.js'
import type { TokenProvider } from '../tokens/token-provider.js'
import type { UsageTally } from '../usage/tally.js'
import { decodeEvent, encodeEvent, type FleetEvent } from './fleet-events.js'
import { FleetKeys } from './keys.js'
import { RedisLink } from './redis-link.js'
import type { LimitBackend } from '../limits/limit-backend.js'
import { FleetAdmission } from './fleet-admission.js'
import { FleetLimits } from './fleet-limits.js'
import { FleetSlots } from './fleet-slots.js'
import { registerFleetMetrics } from './fleet-metrics.js'
import { FleetUsage } from './fleet-usage.js'
import { FleetHold } from './shared-hold.js'
import { SharedTokens } from './shared-tokens.js'
import { errorCode } from '../errors.js'

export interface FleetParts {
  tokens: TokenProvider
  quotaHold: QuotaHold
  credentials: CredentialSource
  usage: UsageTally
}

export interface FleetState { connected: boolean, detail: string, pod: string }

export class Fleet {
  readonly pod: string
  readonly link: RedisLink
  readonly keys: FleetKeys
  readonly tokens: SharedTokens
  readonly hold: FleetHold
  readonly limits: FleetLimits
  readonly slots: FleetSlots
  /** The live integrations (LiveConfig's object): events and holds for one a reload added are not ignored. */
  readonly #integrations: Readonly<Record<string, unknown>>
  readonly #logger: Logger
  /** Integrations whose credential is being re-read because of a fleet event: that change is not announced again. */
  readonly #fromFleet = new Set<string>()
  #parts: FleetParts | undefined
  #clock: Clock
  /** Set by attach(): publishes this pod's tally, and reads the fleet's. */
  usage: FleetUsage | undefined
  readonly #publish: (event: FleetEvent) => void

  constructor (config: BrokerConfig & { fleet: FleetConfig }, deps: { logger: Logger, clock: Clock }) {
    this.pod = config.fleet.podName ?? `${process.env.HOSTNAME ?? hostname()}:${process.pid}`
    this.#logger = deps.logger.child({ component: 'fleet' })
    this.#clock = deps.clock
    this.#integrations = config.integrations
    this.keys = new FleetKeys(config.fleet.redis.keyPrefix)
    this.link = new RedisLink(config.fleet.redis, this.#logger, deps.clock)
    const publish = (event: FleetEvent): void => {
      void this.link.run((redis) => redis.publish(this.keys.events, encodeEvent(event, this.pod)))
    }
    this.tokens = new SharedTokens({
      link: this.link,
      keys: this.keys,
      clock: deps.clock,
      lockMs: config.atlassian.timeouts.tokenMs,
      onDropped: (integration) => {
        publish({ type: 'drop', integration })
      }
    })
    this.hold = new FleetHold({ link: this.link, keys: this.keys, publish })
    this.limits = new FleetLimits({ link: this.link, clock: deps.clock })
    this.slots = new FleetSlots({ link: this.link, clock: deps.clock })
    this.#publish = publish
  }

  /** Connects the fleet to this broker's parts and starts connecting to Redis (in the background). */
  attach (parts: FleetParts, registry: Registry | undefined): void {
    this.#parts = parts
    parts.credentials.onChange(({ integration, previousVersion, version }) => {
      if (previousVersion === undefined || this.#fromFleet.has(integration)) return
      // A rotation or rollback seen here first: the old version's shared token goes, every sidecar re-reads the store.
      void this.tokens.drop(integration, [previousVersion])
      parts.tokens.drop(integration, { fromFleet: true })
      this.#publish({ type: 'credential', integration, version })
    })
    this.link.subscribe(this.keys.events, (message) => {
      this.#receive(message)
    })
    this.link.onUp(() => {
      void this.hold.load(Object.keys(this.#integrations), parts.quotaHold)
    })
    if (registry !== undefined) registerFleetMetrics(registry, () => this.link.connected)
    this.usage = new FleetUsage({
      link: this.link,
      keys: this.keys,
      clock: this.#clock,
      pod: this.pod,
      tally: parts.usage
    })
    this.usage.start()
    this.link.start()
  }

  /** Admission's backend in fleet mode: budgets and `scope: fleet` limits in Redis, the rest (and all of it while
   *  Redis cannot answer) in `local`. */
  admission (local: LimitBackend): LimitBackend {
    return new FleetAdmission({ leases: this.limits, slots: this.slots, keys: this.keys, local })
  }

  state (): FleetState {
    return { ...this.link.state(), pod: this.pod }
  }

  async close (): Promise<void> {
    await this.usage?.stop()
    this.slots.stop()
    await this.link.close()
  }

  #receive (message: string): void {
    const parts = this.#parts
    const envelope = decodeEvent(message, { has: (name) => Object.hasOwn(this.#integrations, name) })
    if (parts === undefined || envelope === undefined || envelope.origin === this.pod) return
    const { event } = envelope
    switch (event.type) {
      case 'hold':
        parts.quotaHold.adopt(event.integration, event.holdMs)
        return
      case 'drop':
        parts.tokens.drop(event.integration, { fromFleet: true })
        return
      case 'credential':
        void this.#adoptCredential(parts, event.integration)
    }
  }

  /** Re-reads the store now (not at the next revalidation), then drops the token so the next call uses the new version.
   */
  async #adoptCredential (parts: FleetParts, integration: string): Promise<void> {
    this.#fromFleet.add(integration)
    try {
      await parts.credentials.current(integration, { revalidate: true })
    } catch (error) {
      this.#logger.warn(
        { integration, code: errorCode(error) },
        'fleet: could not re-read a credential another sidecar changed'
      )
    } finally {
      this.#fromFleet.delete(integration)
    }
    parts.tokens.drop(integration, { fromFleet: true })
  }
}
