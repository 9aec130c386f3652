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
import type { PointPools } from '../limits/point-pools.js'
import { LRUCache } from 'lru-cache'
import { decodeEvent, encodeEvent, type FleetEvent, type Signer } from './fleet-events.js'
import { FleetKeys } from './keys.js'
import { RedisLink } from './redis-link.js'
import type { LimitBackend } from '../limits/limit-backend.js'
import { FleetAdmission } from './fleet-admission.js'
import { FleetLimits } from './fleet-limits.js'
import { FleetPoints } from './fleet-points.js'
import { FleetSlots } from './fleet-slots.js'
import { FleetRejections, registerFleetMetrics } from './fleet-metrics.js'
import { FleetUsage } from './fleet-usage.js'
import { FleetPools } from './fleet-pools.js'
import { FleetHold } from './shared-hold.js'
import { SharedTokens } from './shared-tokens.js'
import { FleetKeyring } from './token-crypto.js'
import { errorCode } from '../errors.js'
import type { TimerHandle } from '../clock.js'

/** A `drop` event is honoured at most this often per integration: even a flood of valid ones (plus a DEL of the
 *  shared entry) forces at most one token exchange a second, while an operator's drops a few seconds apart all
 *  reach the fleet. */
const DROP_INTERVAL_MS = 1_000
/** `credential` hints re-read the store at most this often per integration (one more after the interval when hints
 *  keep coming, so a real rotation is never missed). */
const RECHECK_INTERVAL_MS = 1_000
/** Ids of accepted signed events, remembered longer than an event is valid (EVENT_WINDOW_MS): a replay is refused. */
const SEEN_EVENTS = 10_000

export interface FleetParts {
  tokens: TokenProvider
  quotaHold: QuotaHold
  credentials: CredentialSource
  usage: UsageTally
  /** Atlassian's points pools as this pod sees them (the headroom's). */
  pools: PointPools
}

export interface FleetState { connected: boolean, detail: string, pod: string }

export class Fleet {
  readonly pod: string
  readonly link: RedisLink
  readonly keys: FleetKeys
  readonly tokens: SharedTokens
  readonly hold: FleetHold
  readonly limits: FleetLimits
  readonly points: FleetPoints
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
  readonly keyring = new FleetKeyring()
  readonly rejections: FleetRejections
  readonly #seen = new LRUCache<string, true>({ max: SEEN_EVENTS })
  readonly #droppedAt = new Map<string, number>()
  readonly #recheckedAt = new Map<string, number>()
  readonly #recheckTimers = new Map<string, TimerHandle>()

  constructor (config: BrokerConfig & { fleet: FleetConfig }, deps: { logger: Logger, clock: Clock }) {
    this.pod = config.fleet.podName ?? `${process.env.HOSTNAME ?? hostname()}:${process.pid}`
    this.#logger = deps.logger.child({ component: 'fleet' })
    this.#clock = deps.clock
    this.#integrations = config.integrations
    this.keys = new FleetKeys(config.fleet.redis.keyPrefix)
    this.link = new RedisLink(config.fleet.redis, this.#logger, deps.clock)
    this.rejections = new FleetRejections({ logger: this.#logger, clock: deps.clock })
    const publish = (event: FleetEvent): void => {
      const message = encodeEvent(event, this.pod, this.#signer(event.integration))
      void this.link.run((redis) => redis.publish(this.keys.events, message))
    }
    const signer = (integration: string): Signer | undefined => this.#signer(integration)
    const keyFor = async (integration: string, version: number): Promise<Buffer | undefined> => {
      const parts = this.#parts
      if (parts !== undefined && this.#macKey(integration, version) === undefined) {
        await this.#readVersion(parts, integration, version)
      }
      return this.#macKey(integration, version)
    }
    this.tokens = new SharedTokens({
      link: this.link,
      keys: this.keys,
      clock: deps.clock,
      keyring: this.keyring,
      rejections: this.rejections,
      lockMs: config.atlassian.timeouts.tokenMs,
      onDropped: (integration) => {
        publish({ type: 'drop', integration })
      }
    })
    const { link, keys, rejections } = this
    this.hold = new FleetHold({ link, keys, clock: deps.clock, publish, signer, keyFor, rejections })
    this.limits = new FleetLimits({ link: this.link, clock: deps.clock, rejections: this.rejections })
    this.points = new FleetPoints({ link: this.link, clock: deps.clock, rejections: this.rejections })
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
    if (registry !== undefined) registerFleetMetrics(registry, () => this.link.connected, this.rejections)
    this.usage = new FleetUsage({
      link: this.link,
      keys: this.keys,
      clock: this.#clock,
      pod: this.pod,
      tally: parts.usage,
      rejections: this.rejections,
      pools: new FleetPools({
        link: this.link,
        keys: this.keys,
        clock: this.#clock,
        pod: this.pod,
        pools: parts.pools,
        rejections: this.rejections
      })
    })
    this.usage.start()
    this.link.start()
  }

  /** Admission's backend in fleet mode: budgets and `scope: fleet` limits in Redis, the rest (and all of it while
   *  Redis cannot answer) in `local`. */
  admission (local: LimitBackend): LimitBackend {
    return new FleetAdmission({ leases: this.limits, slots: this.slots, points: this.points, keys: this.keys, local })
  }

  state (): FleetState {
    return { ...this.link.state(), pod: this.pod }
  }

  async close (): Promise<void> {
    await this.usage?.stop()
    // Points charged before close reach Redis: the hour's pool is the fleet's.
    await this.points.settled()
    this.slots.stop()
    for (const timer of this.#recheckTimers.values()) this.#clock.clearTimer(timer)
    this.#recheckTimers.clear()
    await this.link.close()
  }

  /** The key and version this sidecar signs an integration's events with; undefined before its credential was read. */
  #signer (integration: string): Signer | undefined {
    const secret = this.#parts?.credentials.cachedSecret(integration)
    if (secret === undefined) return undefined
    return { version: secret.version, key: this.keyring.macKey(integration, secret), now: this.#clock.now() }
  }

  #macKey (integration: string, version: number): Buffer | undefined {
    const secret = this.#parts?.credentials.cachedSecret(integration)
    return secret?.version === version ? this.keyring.macKey(integration, secret) : undefined
  }

  #receive (message: string, afterRead = false): void {
    const parts = this.#parts
    if (parts === undefined) return
    let asked: { integration: string, version: number } | undefined
    const keyFor = (integration: string, version: number): Buffer | undefined => {
      asked = { integration, version }
      return this.#macKey(integration, version)
    }
    const known = { has: (name: string) => Object.hasOwn(this.#integrations, name) }
    const envelope = decodeEvent(message, { known, keyFor, now: this.#clock.now() })
    if (envelope === 'other-version' && asked !== undefined && !afterRead) {
      // Signed with a version this sidecar has not read (never read, or just rotated): read the store, try again once.
      void this.#readVersion(parts, asked.integration, asked.version).then(() => { this.#receive(message, true) })
      return
    }
    if (typeof envelope === 'string') { this.rejections.count('event', envelope); return }
    if (envelope.origin === this.pod) return
    const { event } = envelope
    if (event.type !== 'credential') {
      if (this.#seen.has(envelope.id)) { this.rejections.count('event', 'replayed'); return }
      this.#seen.set(envelope.id, true)
    }
    switch (event.type) {
      case 'hold':
        parts.quotaHold.adopt(event.integration, event.holdMs)
        return
      case 'drop': {
        const now = this.#clock.now()
        const last = this.#droppedAt.get(event.integration)
        if (last !== undefined && now - last < DROP_INTERVAL_MS) { this.rejections.count('event', 'rate-limited'); return }
        this.#droppedAt.set(event.integration, now)
        parts.tokens.drop(event.integration, { fromFleet: true })
        return
      }
      case 'credential':
        this.#recheck(parts, event.integration)
    }
  }

  /** The credential, read when never read, or re-read (at most once per interval) when an event names a newer
   *  version. */
  async #readVersion (parts: FleetParts, integration: string, version: number): Promise<void> {
    const cached = parts.credentials.cachedVersion(integration)
    const now = this.#clock.now()
    const recent = now - (this.#recheckedAt.get(integration) ?? -Infinity) < RECHECK_INTERVAL_MS
    // Rate-limited either way: forged events naming an unconfigured integration or a huge version must not turn into
    // one store read each.
    if ((cached !== undefined && version <= cached) || recent) return
    this.#recheckedAt.set(integration, now)
    try {
      await parts.credentials.current(integration, { revalidate: cached !== undefined })
    } catch {
      // No credential to verify with: the event is refused as 'other-version'.
    }
  }

  /** At most one store re-read per integration per interval; hints in between collapse into one after it. */
  #recheck (parts: FleetParts, integration: string): void {
    if (this.#recheckTimers.has(integration)) return
    const now = this.#clock.now()
    const wait = (this.#recheckedAt.get(integration) ?? -Infinity) + RECHECK_INTERVAL_MS - now
    if (wait <= 0) {
      this.#recheckedAt.set(integration, now)
      void this.#adoptCredential(parts, integration)
      return
    }
    this.#recheckTimers.set(integration, this.#clock.setTimer(() => {
      this.#recheckTimers.delete(integration)
      this.#recheck(parts, integration)
    }, wait))
  }

  /** Re-reads the store now (not at the next revalidation); a token of an older version than the store's is dropped,
   *  so the next call uses the new one. What the hint says is not trusted: only what the store answers. */
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
    const token = parts.tokens.state(integration)
    if (token.cached && token.secretVersion !== parts.credentials.cachedVersion(integration)) {
      parts.tokens.drop(integration, { fromFleet: true })
    }
  }
}
