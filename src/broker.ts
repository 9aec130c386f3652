/**
 * createBroker(config, options): builds every dependency (secret store, credentials, token provider, forwarder,
 * policy, readiness) and the Fastify app around them. server.ts listens; tests call this directly.
 */
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Dispatcher } from 'undici'
import { buildApp } from './app.js'
import { resolveCallerKeys, type CallerKeys } from './callers/caller-keys.js'
import { systemClock, type Clock } from './clock.js'
import type { BrokerConfig } from './config.js'
import { compilePolicy, type Policy } from './policy/policy.js'
import { Readiness } from './readiness.js'
import { createSecretStore, revalidateMs } from './secrets/create-secret-store.js'
import { CredentialSource } from './secrets/credential-source.js'
import type { SecretStore } from './secrets/secret-store.js'
import { TokenProvider } from './tokens/token-provider.js'
import { Forwarder } from './upstream/forwarder.js'

export interface BrokerOptions {
  logger: Logger
  clock?: Clock
  /** An already-built store (tests); otherwise built from config. */
  store?: SecretStore
  /** Where upstream requests go (tests, benchmarks); otherwise a Pool to config.atlassian.apiUrl. */
  dispatcher?: Dispatcher
  env?: NodeJS.ProcessEnv
}

export interface Broker {
  app: FastifyInstance
  config: BrokerConfig
  store: SecretStore
  credentials: CredentialSource
  tokens: TokenProvider
  policy: Policy
  callerKeys: CallerKeys
  close (): Promise<void>
}

export async function createBroker (config: BrokerConfig, options: BrokerOptions): Promise<Broker> {
  const clock = options.clock ?? systemClock
  const logger = options.logger
  const store = options.store ?? await createSecretStore(config, { logger, clock, ...(options.env ? { env: options.env } : {}) })
  const credentials = new CredentialSource({ store, clock, logger, revalidateMs: revalidateMs(config) })
  const tokens = new TokenProvider({
    integrations: config.integrations,
    credentials,
    clock,
    logger,
    tokenUrl: config.atlassian.tokenUrl,
    timeoutMs: config.atlassian.timeouts.tokenMs,
    refreshMarginSeconds: config.atlassian.tokenRefreshMarginSeconds
  })
  const forwarder = new Forwarder({
    apiUrl: config.atlassian.apiUrl,
    tokens,
    connections: config.atlassian.connections,
    connectTimeoutMs: config.atlassian.timeouts.connectMs,
    headersTimeoutMs: config.atlassian.timeouts.headersMs,
    bodyTimeoutMs: config.atlassian.timeouts.bodyMs,
    bodyLimitBytes: config.limits.bodyBytes,
    replayBufferBytes: config.limits.replayBufferBytes,
    ...(options.dispatcher ? { dispatcher: options.dispatcher } : {})
  })
  const policy = compilePolicy(config.policy)
  const callerKeys = resolveCallerKeys(config)
  const readiness = new Readiness({ store, clock })
  const app = await buildApp(config, { logger, callerKeys, policy, forwarder, readiness })
  app.addHook('onClose', async () => {
    await forwarder.close()
    await store.close()
  })
  return { app, config, store, credentials, tokens, policy, callerKeys, close: () => app.close() }
}
