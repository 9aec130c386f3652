/**
 * createBroker(config, options): builds every dependency (secret store, credentials, token provider, forwarder,
 * policy, readiness) and the Fastify app around them. server.ts listens; tests call this directly.
 */
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Dispatcher } from 'undici'
import { createCredentialAdmin, type CredentialAdmin } from './http/credential-routes.js'
import { usageRoutes } from './http/usage-routes.js'
import { mcpRoutes } from './http/mcp-routes.js'
import { buildApp, type AppDeps } from './http/app.js'
import { resolveCallerKeys, type CallerKeys } from './callers/caller-keys.js'
import { systemClock, type Clock } from './clock.js'
import type { BrokerConfig, ParsedConfig } from './config/schema.js'
import type { Fleet } from './fleet/fleet.js'
import { createAdmission } from './limits/admission.js'
import { LocalLimits } from './limits/local-limits.js'
import { QuotaHold } from './limits/quota-hold.js'
import { SeatQueue } from './limits/seat-queue.js'
import type { Policy } from './policy/policy.js'
import { Readiness } from './http/readiness.js'
import { CredentialExpiry } from './credentials/expiry.js'
import type { ConfigReloaderOptions, ReloadOutcome } from './config/reload.js'
import { LiveConfig } from './config/live-config.js'
import { FirstCallWatch } from './atlassian/first-call.js'
import { resolveSites, resolveSitesOutcome } from './atlassian/site-resolver.js'
import { storeSiteCache } from './atlassian/site-cache.js'
import { createSecretStore, revalidateMs } from './secrets/create-secret-store.js'
import { CredentialSource } from './secrets/credential-source.js'
import type { SecretStore } from './secrets/secret-store.js'
import { TokenProvider } from './tokens/token-provider.js'
import { Forwarder } from './upstream/forwarder.js'
import type { Sleep } from './upstream/retry-policy.js'
import { buildMetricsListener } from './http/metrics-listener.js'
import { metricsPlugin } from './http/metrics-routes.js'
import { labelledQueueRows } from './usage/queue-rows.js'
import { Usage } from './usage/usage.js'

/** What the broker says it is to MCP clients (`serverInfo.version`). */
const BROKER_VERSION = '0.1.0'

export interface BrokerOptions {
  logger: Logger
  clock?: Clock
  /** An already-built store (tests); otherwise built from config. */
  store?: SecretStore
  /** Where upstream requests go (tests, benchmarks); otherwise a Pool to config.atlassian.apiUrl. */
  dispatcher?: Dispatcher
  env?: NodeJS.ProcessEnv
  /** Sees every route as it is added (the openapi.yaml consistency test). */
  onRoute?: AppDeps['onRoute']
  /** Waits between upstream retries and their jitter (tests); default: timers on `clock`, Math.random. */
  sleep?: Sleep
  random?: () => number
}

export interface Broker {
  app: FastifyInstance
  config: BrokerConfig
  store: SecretStore
  credentials: CredentialSource
  tokens: TokenProvider
  /** Upstream calls, one pool per integration. */
  forwarder: Forwarder
  policy: Policy
  callerKeys: CallerKeys
  usage: Usage
  quotaHold: QuotaHold
  /** Where calls wait for a seat of their integration (src/limits/seat-queue.ts). */
  seatQueue: SeatQueue
  /** Rotation, expiry and audit (src/http/credential-routes.ts); `adminApp` is the dedicated admin listener, if
   * configured. */
  credentialAdmin: CredentialAdmin
  /** Fleet mode's coordination through Redis; undefined when `fleet` is not configured. */
  fleet: Fleet | undefined
  /** The swappable integrations and policy, and the loaded config's hash and time. */
  live: LiveConfig
  /** What a reload needs of the broker: sites resolved as at start (the same clock and Vault site cache), its
   * clock, and the metric that counts each outcome. */
  reloading: Pick<ConfigReloaderOptions, 'resolveSites' | 'now' | 'record'>
  /** The metrics listener (`metrics.listen`), if configured; server.ts listens on it. */
  metricsApp: FastifyInstance | undefined
  close (): Promise<void>
}

export async function createBroker (parsed: ParsedConfig, options: BrokerOptions): Promise<Broker> {
  const clock = options.clock ?? systemClock
  const logger = options.logger
  const openStore = (): Promise<SecretStore> =>
    createSecretStore(parsed as BrokerConfig, { logger, clock, ...(options.env ? { env: options.env } : {}) })
  // A Vault store is opened first (it reads only `secrets`): resolved sites are also cached in its metadata.
  const early = options.store ?? (parsed.secrets.store === 'vault' ? await openStore() : undefined)
  // Integrations named by site get their cloudId here (fresh, else cached); a site never resolved stops the start.
  const siteOptions = { now: () => new Date(clock.now()), ...(early?.kind === 'vault' ? { shared: storeSiteCache(early, logger) } : {}) }
  const resolveSitesOf = async (config: ParsedConfig, log: Logger): Promise<BrokerConfig> =>
    await resolveSites(config, { logger: log, ...siteOptions })
  const resolved = await resolveSitesOf(parsed, logger)
    .catch(async (error: unknown) => {
      if (options.store === undefined) await early?.close()
      throw error
    })
  const store = early ?? await openStore()
  // Integrations and policy are read through LiveConfig, so a reload (src/config/) can swap them while serving.
  const live = new LiveConfig(resolved.integrations, resolved.policy, () => new Date(clock.now()))
  const config: BrokerConfig = { ...resolved, integrations: live.integrations }
  const credentials = new CredentialSource({ store, clock, logger, revalidateMs: revalidateMs(config) })
  const policy = live.policy
  // One expiry reader for /metrics, the daily watcher and the admin view (src/credentials/expiry.ts).
  const expiry = new CredentialExpiry({
    store,
    clock,
    logger,
    // Read live: an integration a reload adds gets its expiry gauge and warnings too.
    integrations: () => Object.keys(config.integrations),
    thresholds: config.credentials.expiryWarning
  })
  const usage = new Usage(config, { storeKind: store.kind, expiry, policy, clock, logger })
  // Loaded only when configured: a single sidecar never pays for the Redis client.
  const fleet = config.fleet === undefined ? undefined : new (await import('./fleet/fleet.js')).Fleet({ ...config, fleet: config.fleet }, { logger, clock })
  const tokens = new TokenProvider({
    integrations: config.integrations,
    credentials,
    clock,
    logger,
    tokenUrl: config.atlassian.tokenUrl,
    timeoutMs: config.atlassian.timeouts.tokenMs,
    refreshMarginSeconds: config.atlassian.tokenRefreshMarginSeconds,
    onExchange: (integration, outcome) => { usage.onExchange(integration, outcome) },
    onCacheLookup: (integration, hit) => usage.metrics?.onCacheLookup(integration, hit),
    onRefreshSuppressed: (integration) => usage.metrics?.onRefreshSuppressed(integration),
    ...(fleet ? { shared: fleet.tokens } : {})
  })
  const quotaHold = new QuotaHold({ clock, logger, ...(fleet ? { shared: fleet.hold } : {}) })
  const fleetParts = { tokens, quotaHold, credentials, usage: usage.tally, pools: usage.headroom.pools }
  fleet?.attach(fleetParts, usage.metrics?.registry)
  const firstCalls = new FirstCallWatch(config.integrations, logger)
  const forwarder = new Forwarder({
    apiUrl: config.atlassian.apiUrl,
    tokens,
    connections: config.atlassian.connections,
    connectTimeoutMs: config.atlassian.timeouts.connectMs,
    headersTimeoutMs: config.atlassian.timeouts.headersMs,
    bodyTimeoutMs: config.atlassian.timeouts.bodyMs,
    bodyLimitBytes: config.limits.bodyBytes,
    replayBufferBytes: config.limits.replayBufferBytes,
    requestBodyIdleMs: config.limits.requestBodyIdleMs,
    requestBodyTotalMs: config.limits.requestBodyTotalMs,
    minUploadBytesPerSecond: config.limits.minUploadBytesPerSecond,
    retry: config.atlassian.retry,
    clock,
    // Each answer's rate-limit headers arrive parsed once (src/upstream/upstream-send.ts); every consumer reads that.
    onUpstreamResponse: (integration, statusCode, rateLimit) => {
      quotaHold.observe(integration, statusCode, rateLimit)
      firstCalls.observe(integration, statusCode)
      usage.metrics?.onUpstreamResponse(integration, statusCode, rateLimit)
      usage.headroom.observe(integration, statusCode, rateLimit)
    },
    ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    ...(options.sleep ? { sleep: options.sleep } : {}),
    ...(options.random ? { random: options.random } : {})
  })
  const callerKeys = resolveCallerKeys(config)
  const readiness = new Readiness({ store, clock, ...(fleet ? { fleet: () => fleet.state() } : {}) })
  const localLimits = new LocalLimits({ clock })
  // Seats are this sidecar's own upstream connections, in fleet mode too: each sidecar has its own pools.
  const seatQueue = new SeatQueue({
    clock,
    settings: { ...config.limits.queue, seats: config.limits.queue.seats ?? config.atlassian.connections },
    observe: (caller, integration, waitedMs, outcome) => {
      usage.metrics?.onQueueWait(caller, integration, waitedMs, outcome)
    }
  })
  usage.metrics?.watchQueue(() => seatQueue.rows())
  const admit = createAdmission({
    quotaHold,
    queue: seatQueue,
    backend: fleet ? fleet.admission(localLimits) : localLimits,
    integrations: config.integrations,
    defaultMaxConcurrent: config.limits.callerMaxConcurrent
  })
  const credentialAdmin = await createCredentialAdmin(config, {
    store,
    credentials,
    tokens,
    expiry,
    clock,
    logger,
    dispatcher: options.dispatcher
  })
  const fleetUsage = fleet?.usage
  const ops = {
    integrations: config.integrations,
    store,
    credentials,
    tokens,
    expiry,
    clock,
    tally: usage.tally,
    headroom: usage.headroom,
    heldUntil: (integration: string) => quotaHold.heldUntil(integration),
    queues: () => labelledQueueRows(seatQueue.rows(), usage.labels),
    startedAt: clock.now(),
    failures: usage.failures,
    exchanges: usage.exchanges,
    holds: (since: number) => quotaHold.holds(since),
    rules: () => policy.rules,
    defaultMaxConcurrent: config.limits.callerMaxConcurrent,
    config: () => ({ state: live.state, lastRefused: live.lastRefused }),
    fleet: fleet !== undefined
  }
  const usageView = { tally: usage.tally, ops, ...(fleetUsage ? { fleet: () => fleetUsage.snapshot() } : {}) }
  const reloading = {
    resolveSites: async (next: ParsedConfig, log: Logger) =>
      await resolveSitesOutcome(next, { logger: log, ...siteOptions }),
    now: () => new Date(clock.now()),
    record: (result: ReloadOutcome, file: string): void => {
      usage.metrics?.onReload(result.outcome)
      credentialAdmin.audit.reload(file, result)
    }
  }
  // With metrics.listen, the metrics are served there only, never on the listener that carries /proxy.
  const metricsApp =
    usage.metrics !== undefined && config.metrics.listen !== undefined
      ? await buildMetricsListener(config, { logger, metrics: usage.metrics, readiness })
      : undefined
  const metricsHere =
    usage.metrics !== undefined && metricsApp === undefined ? [metricsPlugin(config, { metrics: usage.metrics })] : []
  // The MCP endpoint (src/mcp/, the SDK) loads only when enabled: its tools call through the proxy's own pipeline.
  const mcpHere = config.mcp.enabled
    ? [mcpRoutes({
        pipeline: { policy, forwarder, admit },
        integrations: config.integrations,
        usage,
        clock,
        policy,
        settings: config.mcp,
        logger,
        version: BROKER_VERSION
      })]
    : []
  const plugins = [credentialAdmin.plugin, usageRoutes(usageView), ...metricsHere, ...mcpHere]
  // On the admin listener, reaching the socket is the credential: the usage page works there without a token.
  await credentialAdmin.adminApp?.register(usageRoutes(usageView))
  const app = await buildApp(config, {
    logger,
    clock,
    callerKeys,
    policy,
    forwarder,
    readiness,
    usage,
    admit,
    plugins,
    configState: () => live.state,
    ...(options.onRoute ? { onRoute: options.onRoute } : {})
  })
  app.addHook('onClose', async () => {
    await metricsApp?.close()
    await credentialAdmin.close()
    await forwarder.close()
    await store.close()
    await usage.close()
    await fleet?.close()
  })
  return {
    app,
    config,
    store,
    credentials,
    tokens,
    forwarder,
    policy,
    callerKeys,
    usage,
    quotaHold,
    seatQueue,
    credentialAdmin,
    fleet,
    live,
    reloading,
    metricsApp,
    close: () => app.close()
  }
}
