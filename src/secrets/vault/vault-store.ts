/**
 * The Vault store: integration credentials in HashiCorp Vault KV v2 at `{mount}/data/{prefix}/{integration}`,
 * lifecycle fields in the key's `custom_metadata`, one KV version per credential version. Who wrote version N and why
 * are kept as the custom_metadata keys `version_{N}_by` and `version_{N}_why` (KV v2 has no per-version metadata of its
 * own); keys of versions Vault pruned are removed, and reasons are kept for the newest REASONS_KEPT versions only, so
 * the map stays under Vault's 64 keys (docs/rotation.md, "Why a version was written").
 *
 * The broker's own token (login, renewal, re-login) lives in vault-session.ts and the KV v2 paths in vault-kv.ts.
 * Failures leave as the errors of src/errors.ts: Vault down, sealed or slow -> SecretStoreUnavailableError with
 * Retry-After, straight away (the caller is already waiting and keeps its cache); policy gap -> SecretStoreDeniedError.
 */
import type { Logger } from 'pino'
import { systemClock, type Clock } from '../../clock.js'
import type { VaultConfig } from '../../config/schema.js'
import { BadRequestError, SecretVersionConflictError, SecretVersionNotFoundError } from '../../errors.js'
import { METADATA_KEYS, type CredentialData, type PutOptions, type SecretMetadata, type SecretStore, type SecretSummary, type SecretVersionInfo, type StoredSecret, type StoreHealth } from '../secret-store.js'
import { createVaultKv, type KvKeyMetadata, type VaultKv } from './vault-kv.js'
import { createVaultSession, describeVaultFailure, type VaultSession } from './vault-session.js'

const PER_VERSION_KEY = /^version_(\d+)_(by|why)$/
/** Versions whose reason is kept: as many as Vault and the file store keep readable by default. */
export const REASONS_KEPT = 10
/** Parallel metadata reads while listing: enough to be quick, few enough not to crowd Vault. */
const LIST_CONCURRENCY = 8

export interface VaultStoreOptions {
  config: VaultConfig
  logger: Logger
  clock?: Clock
  /** Recorded as the writer of each version unless the put names `metadata.rotated_by` (as the file store does). */
  writtenBy?: string
  /** Jitter source for token renewal, in [0, 1); tests pin it. */
  random?: () => number
}

export interface VaultSecretStore extends SecretStore {
  readonly kind: 'vault'
  /** The broker's Vault token lifecycle: state for the admin API, `settled()` for tests. */
  readonly session: Pick<VaultSession, 'state' | 'settled'>
}

/** Logs in to Vault (throws if that fails: SecretStoreUnavailableError or SecretStoreDeniedError) and returns the
 * store. */
export async function createVaultStore (options: VaultStoreOptions): Promise<VaultSecretStore> {
  const session = await createVaultSession({
    config: options.config,
    logger: options.logger,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.random ? { random: options.random } : {})
  })
  options.logger.info({ address: options.config.address, mount: options.config.mount, prefix: options.config.prefix, namespace: options.config.namespace, auth: options.config.auth.method }, 'Vault secret store opened')
  return new VaultStore(options, session)
}

class VaultStore implements VaultSecretStore {
  readonly kind = 'vault'
  /** A narrow view: the session itself holds the node-vault client, whose `token` property is the live Vault token. */
  readonly session: Pick<VaultSession, 'state' | 'settled'>
  #session: VaultSession
  #kv: VaultKv
  #prefix: string
  #log: Logger
  #clock: Clock
  #writtenBy: string | undefined

  constructor (options: VaultStoreOptions, session: VaultSession) {
    this.#session = session
    this.session = { state: () => session.state(), settled: async () => { await session.settled() } }
    this.#kv = createVaultKv(session, options.config.mount, options.logger)
    this.#prefix = options.config.prefix.replace(/^\/+|\/+$/g, '')
    this.#log = options.logger.child({ component: 'vault-store' })
    this.#clock = options.clock ?? systemClock
    this.#writtenBy = options.writtenBy
  }

  async get (integration: string, version?: number): Promise<StoredSecret | undefined> {
    const secret = await this.#kv.read(this.#key(integration), version)
    if (secret === undefined) return undefined
    const data: Record<string, string> = {}
    for (const [name, value] of Object.entries(secret.data)) {
      if (typeof value === 'string') data[name] = value
      else this.#log.warn({ integration, field: name }, 'ignored a non-string field in the stored credential')
    }
    return {
      integration,
      version: secret.metadata.version,
      data: Object.freeze(data),
      createdAt: secret.metadata.created_time
    }
  }

  async currentVersion (integration: string): Promise<number | undefined> {
    const metadata = await this.#kv.readMetadata(this.#key(integration))
    return metadata === undefined || metadata.current_version === 0 ? undefined : metadata.current_version
  }

  async put (integration: string, data: CredentialData, options: PutOptions = {}): Promise<{ version: number }> {
    const key = this.#key(integration)
    const result = await this.#kv.write(key, { ...data }, options.cas)
    if (!result.written) {
      if (result.reason === 'cas-required') throw new BadRequestError(`the secret of "${integration}" requires check-and-set: give the version you read`)
      throw new SecretVersionConflictError(integration, options.cas ?? 'any')
    }
    this.#log.info({ integration, version: result.version }, 'secret version stored in Vault')
    const writtenBy = options.metadata?.rotated_by ?? this.#writtenBy
    const patch = toCustomMetadata(options.metadata ?? {})
    if (writtenBy !== undefined) patch[`version_${result.version}_by`] = writtenBy
    if (options.reason !== undefined) patch[`version_${result.version}_why`] = options.reason
    if (Object.keys(patch).length > 0) {
      // The version is stored whatever happens next: report it, and log a metadata failure rather than hide the write.
      try {
        const perVersion = writtenBy !== undefined || options.reason !== undefined
        if (perVersion) Object.assign(patch, stalePerVersionKeys(await this.#kv.readMetadata(key), result.version))
        await this.#kv.patchMetadata(key, patch)
      } catch (error) {
        const cause = (error as { cause?: unknown }).cause ?? error
        this.#log.error({ integration, version: result.version, reason: cause instanceof Error ? cause.message : 'unknown' }, 'stored the secret version but could not update its metadata')
      }
    }
    return { version: result.version }
  }

  async list (): Promise<SecretSummary[]> {
    const names = (await this.#kv.list(this.#prefix)).filter((name) => !name.endsWith('/'))
    const summaries: SecretSummary[] = []
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < names.length) {
        const integration = names[next++] as string
        const metadata = await this.#kv.readMetadata(this.#key(integration))
        if (metadata === undefined) continue
        summaries.push({
          integration,
          currentVersion: metadata.current_version,
          createdAt: metadata.created_time,
          updatedAt: metadata.updated_time,
          metadata: pickMetadata(metadata)
        })
      }
    }
    await Promise.all(Array.from({ length: Math.min(LIST_CONCURRENCY, names.length) }, worker))
    return summaries.sort((a, b) => a.integration.localeCompare(b.integration))
  }

  async history (integration: string): Promise<SecretVersionInfo[]> {
    const metadata = await this.#kv.readMetadata(this.#key(integration))
    if (metadata === undefined) return []
    const now = this.#clock.now()
    return Object.entries(metadata.versions).map(([number, version]) => {
      const deleted = version.deletion_time !== '' && Date.parse(version.deletion_time) <= now
      const writtenBy = metadata.custom_metadata?.[`version_${number}_by`]
      const reason = metadata.custom_metadata?.[`version_${number}_why`]
      return {
        version: Number(number),
        createdAt: version.created_time,
        readable: !version.destroyed && !deleted,
        ...(writtenBy === undefined ? {} : { writtenBy }),
        ...(reason === undefined ? {} : { reason })
      }
    }).sort((a, b) => a.version - b.version)
  }

  async metadata (integration: string): Promise<SecretMetadata | undefined> {
    const metadata = await this.#kv.readMetadata(this.#key(integration))
    return metadata === undefined ? undefined : pickMetadata(metadata)
  }

  async updateMetadata (integration: string, metadata: SecretMetadata): Promise<void> {
    const patch = toCustomMetadata(metadata)
    if (Object.keys(patch).length === 0) return
    // PATCH merges; POST would replace the whole custom_metadata map. Vault answers 404 for a key never written.
    if (!await this.#kv.patchMetadata(this.#key(integration), patch)) throw new SecretVersionNotFoundError('latest', integration)
  }

  async health (): Promise<StoreHealth> {
    let body: { initialized?: unknown, sealed?: unknown, standby?: unknown } | undefined
    try {
      // node-vault resolves sys/health with the body whatever the status (429 standby, 503 sealed, ...).
      body = await this.#session.client.read('sys/health?standbyok=true&perfstandbyok=true') as typeof body
    } catch (error) {
      const failure = describeVaultFailure(error)
      this.#session.translate(failure, 'health', 'sys/health') // logs the outage once, like any other call
      return { ok: false, detail: failure.timedOut ? 'timed out' : 'unreachable' }
    }
    if (body?.initialized === false) return { ok: false, detail: 'not initialized' }
    if (body?.sealed === true) return { ok: false, detail: 'sealed' }
    if (!this.#session.state().authenticated) return { ok: false, detail: 'not logged in' }
    return { ok: true, detail: body?.standby === true ? 'standby' : 'ok' }
  }

  async close (): Promise<void> { await this.#session.close() }

  #key (integration: string): string { return this.#prefix === '' ? integration : `${this.#prefix}/${integration}` }
}

function pickMetadata (metadata: KvKeyMetadata): SecretMetadata {
  const picked: SecretMetadata = {}
  for (const key of METADATA_KEYS) {
    const value = metadata.custom_metadata?.[key]
    if (typeof value === 'string') picked[key] = value
  }
  return picked
}

/** Lifecycle fields as a merge-patch. Vault refuses empty values (0 < len(value)), so "" removes the key. */
function toCustomMetadata (metadata: SecretMetadata): Record<string, string | null> {
  const patch: Record<string, string | null> = {}
  for (const key of METADATA_KEYS) {
    const value = metadata[key]
    if (typeof value === 'string') patch[key] = value === '' ? null : value
  }
  return patch
}

/**
 * Per-version keys to remove so the 64-key custom_metadata limit is never reached: those of versions Vault has pruned,
 * and reasons older than the newest REASONS_KEPT versions (`written` is the version just written).
 */
function stalePerVersionKeys (metadata: KvKeyMetadata | undefined, written: number): Record<string, null> {
  const stale: Record<string, null> = {}
  for (const key of Object.keys(metadata?.custom_metadata ?? {})) {
    const [, number, kind] = PER_VERSION_KEY.exec(key) ?? []
    if (number === undefined) continue
    const pruned = metadata?.versions[number] === undefined
    if (pruned || (kind === 'why' && Number(number) <= written - REASONS_KEPT)) stale[key] = null
  }
  return stale
}
