/** Picks the secret backend named in config; the choice is logged at startup. */
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import type { BrokerConfig } from '../config/schema.js'
import { createFileStore } from './file/file-store.js'
import type { SecretStore } from './secret-store.js'

/** How often a cached secret is checked against the store's current version, by backend. */
export function revalidateMs (config: BrokerConfig): number {
  return config.secrets.store === 'vault' && config.secrets.vault ? config.secrets.vault.revalidateSeconds * 1000 : 5_000
}

export async function createSecretStore (
  config: BrokerConfig,
  deps: { logger: Logger, clock: Clock, env?: NodeJS.ProcessEnv, writtenBy?: string }
): Promise<SecretStore> {
  const env = deps.env ?? process.env
  if (config.secrets.store === 'vault' && config.secrets.vault) {
    // Loaded only when chosen: a single-machine broker never pays for node-vault.
    const { createVaultStore } = await import('./vault/vault-store.js')
    return createVaultStore({ config: config.secrets.vault, logger: deps.logger, clock: deps.clock })
  }
  return createFileStore({
    path: config.secrets.file.path,
    ...(env.BROKER_MASTER_KEY ? { masterKey: env.BROKER_MASTER_KEY } : {}),
    logger: deps.logger,
    clock: deps.clock,
    ...(deps.writtenBy ? { writtenBy: deps.writtenBy } : {})
  })
}
