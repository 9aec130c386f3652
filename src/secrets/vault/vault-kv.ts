/**
 * KV v2 in one small place. node-vault knows raw paths only (its maintainers: "v2 still needs more work"), so this
 * adapter builds `{mount}/data/...` and `{mount}/metadata/...`, shapes the bodies (`{data, options: {cas}}`, a
 * merge-patch for custom_metadata, because POST on metadata replaces the whole map) and reads Vault's envelopes.
 * Shapes and error texts: hashicorp/vault website/content/api-docs/secret/kv/kv-v2.mdx and vault-plugin-secrets-kv
 * path_data.go/path_metadata.go.
 */
import type { Logger } from 'pino'
import { SecretStoreUnavailableError } from '../../errors.js'
import { VaultCallError, type VaultSession } from './vault-session.js'

export interface KvVersionMetadata {
  version: number
  created_time: string
  /** "" when unset; a time in the future (delete_version_after) leaves the version readable until then. */
  deletion_time: string
  destroyed: boolean
  custom_metadata: Record<string, string> | null
}

export interface KvSecret { data: Record<string, unknown>, metadata: KvVersionMetadata }

export interface KvKeyMetadata {
  current_version: number
  oldest_version: number
  created_time: string
  updated_time: string
  max_versions: number
  cas_required: boolean
  custom_metadata: Record<string, string> | null
  versions: Record<string, { created_time: string, deletion_time: string, destroyed: boolean }>
}

export type KvWriteResult =
  | { written: true, version: number, createdTime: string }
  | { written: false, reason: 'cas-mismatch' | 'cas-required' }

export interface VaultKv {
  /** The current version or a given one; undefined when the key, or that version, is missing, deleted or destroyed. */
  read(key: string, version?: number): Promise<KvSecret | undefined>
  write(key: string, data: Record<string, string>, cas?: number): Promise<KvWriteResult>
  readMetadata(key: string): Promise<KvKeyMetadata | undefined>
  /** JSON merge-patch of custom_metadata (null deletes a key); false when the key does not exist. */
  patchMetadata(key: string, customMetadata: Record<string, string | null>): Promise<boolean>
  /** Direct children of a folder, sub-folders suffixed "/"; [] when there is nothing. */
  list(folder: string): Promise<string[]>
}

const CAS_MISMATCH = 'check-and-set parameter did not match the current version'
const CAS_REQUIRED = 'check-and-set parameter required for this call'

/** Each segment percent-encoded: node-vault puts paths into the URL as given. */
const encodePath = (path: string): string => path.split('/').filter((segment) => segment !== '').map(encodeURIComponent).join('/')

export function createVaultKv (session: VaultSession, mount: string, logger: Logger): VaultKv {
  const log = logger.child({ component: 'vault-kv' })
  const dataPath = (key: string): string => `${encodePath(mount)}/data/${encodePath(key)}`
  const metadataPath = (key: string): string => `${encodePath(mount)}/metadata/${encodePath(key)}`

  /** 404 `{"errors":[]}` (missing key/version) or the envelope 404 of a deleted version: nothing to read. */
  const isMissing = (error: unknown): boolean =>
    error instanceof VaultCallError && error.status === 404 && error.vaultErrors.length === 0

  /** Any other answer Vault should not give the broker: a misconfigured mount ("no handler for route"), a 400 we did
   * not expect. */
  const unexpected = (error: unknown, operation: string, path: string): Error => {
    if (!(error instanceof VaultCallError)) return error as Error
    log.error({ operation, path, status: error.status, vaultErrors: error.vaultErrors },
      error.status === 404 ? `Vault has no KV v2 route here: check vault.mount ("${mount}") and that it is a KV version 2 mount` : 'unexpected answer from Vault')
    return new SecretStoreUnavailableError({ cause: error })
  }

  return {
    async read (key, version) {
      const path = dataPath(key)
      try {
        const response = await session.call('read', path, async (client) => await client.read(version === undefined ? path : `${path}?version=${version}`) as { data?: { data?: Record<string, unknown> | null, metadata?: KvVersionMetadata } })
        const found = response?.data
        if (found?.data === undefined || found.data === null || found.metadata === undefined) return undefined
        return { data: found.data, metadata: found.metadata }
      } catch (error) {
        if (isMissing(error)) return undefined
        throw unexpected(error, 'read', path)
      }
    },

    async write (key, data, cas) {
      const path = dataPath(key)
      try {
        const body = { data, options: cas === undefined ? {} : { cas } }
        const response = await session.call('write', path, async (client) => await client.write(path, body) as { data?: { version?: number, created_time?: string } })
        return { written: true, version: Number(response?.data?.version), createdTime: String(response?.data?.created_time ?? '') }
      } catch (error) {
        if (error instanceof VaultCallError && error.status === 400) {
          if (error.vaultErrors.includes(CAS_MISMATCH)) return { written: false, reason: 'cas-mismatch' }
          if (error.vaultErrors.includes(CAS_REQUIRED)) return { written: false, reason: 'cas-required' }
        }
        throw unexpected(error, 'write', path)
      }
    },

    async readMetadata (key) {
      const path = metadataPath(key)
      try {
        const response = await session.call('read-metadata', path, async (client) => await client.read(path) as { data?: KvKeyMetadata })
        return response?.data ?? undefined
      } catch (error) {
        if (isMissing(error)) return undefined
        throw unexpected(error, 'read-metadata', path)
      }
    },

    async patchMetadata (key, customMetadata) {
      const path = metadataPath(key)
      try {
        // node-vault's update() is PATCH with Content-Type application/merge-patch+json (what Vault requires, else
        // 415).
        await session.call('patch-metadata', path, async (client) => await client.update(path, { custom_metadata: customMetadata }) as unknown)
        return true
      } catch (error) {
        if (isMissing(error)) return false
        throw unexpected(error, 'patch-metadata', path)
      }
    },

    async list (folder) {
      const path = `${encodePath(mount)}/metadata/${encodePath(folder)}${folder === '' ? '' : '/'}`
      try {
        // With noCustomHTTPVerbs, list() sends GET <path>?list=1 (Vault parses it with strconv.ParseBool).
        const response = await session.call('list', path, async (client) => await client.list(path) as { data?: { keys?: unknown } })
        const keys = response?.data?.keys
        return Array.isArray(keys) ? keys.filter((entry): entry is string => typeof entry === 'string') : []
      } catch (error) {
        if (isMissing(error)) return []
        throw unexpected(error, 'list', path)
      }
    }
  }
}
