/**
 * Wires rotation, expiry tracking and the audit trail for a broker: the admin plugin for the main listener, the
 * dedicated admin listener when `callers.admin.listen` is set, the daily expiry watcher, and their shutdown.
 * server.ts makes the admin listener listen (listenAdmin); tests may do it themselves.
 */
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Dispatcher } from 'undici'
import type { Clock } from '../clock.js'
import type { BrokerConfig } from '../config/schema.js'
import type { CredentialExpiry } from '../credentials/expiry.js'
import { ExpiryWatcher } from '../credentials/expiry-watcher.js'
import type { CredentialVerifier } from '../atlassian/credential-probe.js'
import { credentialWriterParts } from '../credentials/credential-writer.js'
import type { CredentialSource } from '../secrets/credential-source.js'
import type { SecretStore } from '../secrets/secret-store.js'
import type { TokenProvider } from '../tokens/token-provider.js'
import { buildAdminListener } from './admin-listener.js'
import { createAdminPlugin } from './admin-routes.js'
import type { AuditLog } from '../credentials/audit.js'

export interface CredentialAdmin {
  /** For AppDeps.plugins on the main listener. */
  plugin: (app: FastifyInstance) => Promise<void>
  /** The dedicated admin listener's app (not listening yet), when configured. */
  adminApp: FastifyInstance | undefined
  expiryWatcher: ExpiryWatcher
  audit: AuditLog
  verify: CredentialVerifier
  close (): Promise<void>
}

export async function createCredentialAdmin (config: BrokerConfig, deps: {
  store: SecretStore
  credentials: CredentialSource
  tokens: TokenProvider
  clock: Clock
  logger: Logger
  /** The broker's one expiry reader (also read by /metrics). */
  expiry: CredentialExpiry
  /** Where API-token verification calls go (same as forwarding); default: apiUrl. */
  dispatcher?: Dispatcher | undefined
  verify?: CredentialVerifier | undefined
}): Promise<CredentialAdmin> {
  const { logger, clock } = deps
  const parts = credentialWriterParts(config, { logger, clock, apiDispatcher: deps.dispatcher })
  const verify = deps.verify ?? parts.verify
  const { audit } = parts
  const expiry = deps.expiry
  const expiryWatcher = new ExpiryWatcher({ expiry, clock: deps.clock, logger: deps.logger })
  const shared = {
    integrations: config.integrations,
    store: deps.store,
    credentials: deps.credentials,
    tokens: deps.tokens,
    verify,
    expiry,
    audit,
    clock: deps.clock
  }
  const plugin = createAdminPlugin({ ...shared, via: 'admin-api' })
  const adminApp = config.callers.admin.listen === undefined
    ? undefined
    : await buildAdminListener(config, { logger: deps.logger, audit, plugin: createAdminPlugin({ ...shared, via: 'admin-listener' }) })
  expiryWatcher.start()
  return {
    plugin,
    adminApp,
    expiryWatcher,
    audit,
    verify,
    async close () {
      expiryWatcher.stop()
      await adminApp?.close()
      await expiryWatcher.settled()
      await audit.close()
    }
  }
}
