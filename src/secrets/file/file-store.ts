/**
 * The embedded secret store, the default on a single machine: one AES-256-GCM sealed file (envelope.ts)
 * holding every integration's credential versions and metadata. Writes are serialized in-process and, across
 * processes (the broker and any number of CLI commands), by `<file>.lock` (file-lock.ts): under it the file is read
 * again, the change (and its check-and-set) applied to what is on disk, and the result lands atomically (temp file,
 * fsync, rename, fsync of the folder), so no acknowledged write is lost and a crash leaves the old file or the new one.
 * Opening writes nothing: the folder and the key file are created by the first write (a failed `init` leaves no
 * trace). A file the store cannot decrypt is reported and never overwritten. The document inside the envelope
 * (versions, pruning, metadata) is store-document.ts; the keys, master-key.ts; which file is on disk, file-identity.ts.
 */
import { access, mkdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import type pino from 'pino'
import { systemClock, type Clock } from '../../clock.js'
import { SecretStoreUnavailableError, SecretVersionConflictError, SecretVersionNotFoundError } from '../../errors.js'
import type {
  CredentialData,
  PutOptions,
  SecretMetadata,
  SecretStore,
  SecretSummary,
  SecretVersionInfo,
  StoredSecret,
  StoreHealth
} from '../secret-store.js'
import { removeStaleTemps, writeFileAtomic } from './atomic-write.js'
import { identify, readStoreFile, sameIdentity, type FileIdentity } from './file-identity.js'
import { FileLockTimeoutError, withFileLock } from './file-lock.js'
import { keyId, loadKeyFile, parseMasterKey, StoreKeys, type MasterKey } from './master-key.js'
import { SecretFileError, unreadable } from './secret-file-error.js'
import { openDocument, sealDocument, withMetadata, withNewVersion, type Integrations, type Sealing } from './store-document.js'

export { SecretFileError, type SecretFileProblem } from './secret-file-error.js'

export const DEFAULT_MAX_VERSIONS = 10

export interface FileStoreOptions {
  path: string
  /** BROKER_MASTER_KEY: 32 bytes as hex or base64, or a passphrase (scrypt, salt stored in the file). */
  masterKey?: string
  logger: pino.Logger
  clock?: Clock
  /** Recorded as `writtenBy` on each version unless the put names `metadata.rotated_by`. */
  writtenBy?: string
  /** Versions whose value is kept; older ones stay in history as unreadable. */
  maxVersions?: number
}

export type FileStore = SecretStore & { keySource: 'env' | 'file' }

export async function createFileStore (options: FileStoreOptions): Promise<FileStore> {
  const file = path.resolve(options.path)
  const keyFile = `${file}.key`
  const folderExists = await access(path.dirname(file)).then(() => true, () => false)
  if (folderExists) await removeStaleTemps(file, options.logger)
  const existing = await readStoreFile(file)
  const keySource = options.masterKey === undefined ? 'file' : 'env'
  // Without a store file nor a key file the key is made by the first write, so opening never creates anything.
  const keyFileExists = await access(keyFile).then(() => true, () => false)
  const master: MasterKey | undefined = options.masterKey !== undefined
    ? parseMasterKey(options.masterKey)
    : existing === undefined && !keyFileExists
      ? undefined
      : { type: 'raw', key: await loadKeyFile(keyFile, { file, exists: existing !== undefined }, options.logger) }
  const keyAdvice = keySource === 'env'
    ? `set BROKER_MASTER_KEY to the key that encrypted it (or unset it if the store was made with ${keyFile})`
    : `restore the original ${keyFile}, or set BROKER_MASTER_KEY to the key that encrypted it`
  const store = new EmbeddedFileStore({ ...options, file, master, keySource, keyAdvice })
  await store.open(existing)
  return store
}

interface StoreSetup extends FileStoreOptions { file: string, master: MasterKey | undefined, keySource: 'env' | 'file', keyAdvice: string }

class EmbeddedFileStore implements SecretStore {
  readonly kind = 'file'
  readonly keySource: 'env' | 'file'
  readonly #setup: StoreSetup
  readonly #clock: Clock
  readonly #maxVersions: number
  /** Undefined until the first write creates the key file (or another process's store file needs it). */
  #keys: StoreKeys | undefined
  #integrations: Integrations = new Map()
  #identity: FileIdentity | undefined
  /** The key and kdf the next write seals with: those of the file last read, or new ones for a new store. */
  #sealing: Sealing | undefined
  /** Set while the file on disk cannot be read; reads serve the last good state, writes are refused. */
  #problem: SecretFileError | undefined
  #queue: Promise<unknown> = Promise.resolve()
  #closed = false

  constructor (setup: StoreSetup) {
    this.#setup = setup
    this.keySource = setup.keySource
    this.#clock = setup.clock ?? systemClock
    this.#maxVersions = Math.max(1, setup.maxVersions ?? DEFAULT_MAX_VERSIONS)
    this.#keys = setup.master === undefined ? undefined : new StoreKeys(setup.master)
  }

  async open (existing: { text: string, identity: FileIdentity } | undefined): Promise<void> {
    if (existing === undefined) {
      if (this.#keys !== undefined) await this.#newSealing(this.#keys)
    } else {
      await this.#load(existing.text)
      this.#identity = existing.identity
    }
    const keyFingerprint = this.#sealing === undefined ? undefined : keyId(this.#sealing.key)
    this.#setup.logger.info({ path: this.#setup.file, keySource: this.keySource, keyFingerprint, integrations: this.#integrations.size }, 'file secret store opened')
  }

  async get (integration: string, version?: number): Promise<StoredSecret | undefined> {
    const record = (await this.#fresh()).get(integration)
    const wanted = version ?? record?.versions.at(-1)?.version
    const entry = record?.versions.find((candidate) => candidate.version === wanted)
    if (entry?.data === undefined) return undefined
    return { integration, version: entry.version, data: entry.data, createdAt: entry.createdAt }
  }

  async currentVersion (integration: string): Promise<number | undefined> {
    return (await this.#fresh()).get(integration)?.versions.at(-1)?.version
  }

  async put (integration: string, data: CredentialData, options: PutOptions = {}): Promise<{ version: number }> {
    return await this.#exclusive(async (integrations) => {
      const record = integrations.get(integration)
      const current = record?.versions.at(-1)?.version ?? 0
      if (options.cas !== undefined && options.cas !== current) {
        throw new SecretVersionConflictError(integration, options.cas)
      }
      const { next, version } = withNewVersion(record, {
        data,
        now: new Date(this.#clock.now()).toISOString(),
        writtenBy: options.metadata?.rotated_by ?? this.#setup.writtenBy,
        reason: options.reason,
        metadata: options.metadata ?? {}
      }, this.#maxVersions)
      await this.#write(new Map([...integrations, [integration, next]]))
      this.#setup.logger.info({ integration, version }, 'secret version stored')
      return { version }
    })
  }

  async list (): Promise<SecretSummary[]> {
    return [...(await this.#fresh())].sort(([a], [b]) => a.localeCompare(b)).map(([integration, record]) => ({
      integration,
      currentVersion: record.versions.at(-1)?.version ?? 0,
      createdAt: record.createdAt,
      updatedAt: record.updatedAt,
      metadata: { ...record.metadata }
    }))
  }

  async history (integration: string): Promise<SecretVersionInfo[]> {
    return ((await this.#fresh()).get(integration)?.versions ?? []).map((entry) => ({
      version: entry.version,
      createdAt: entry.createdAt,
      readable: entry.data !== undefined,
      ...(entry.writtenBy === undefined ? {} : { writtenBy: entry.writtenBy }),
      ...(entry.reason === undefined ? {} : { reason: entry.reason })
    }))
  }

  async metadata (integration: string): Promise<SecretMetadata | undefined> {
    const record = (await this.#fresh()).get(integration)
    return record === undefined ? undefined : { ...record.metadata }
  }

  async updateMetadata (integration: string, metadata: SecretMetadata): Promise<void> {
    await this.#exclusive(async (integrations) => {
      const record = integrations.get(integration)
      // Like Vault's PATCH on /metadata, which answers 404 for a path that was never written.
      if (record === undefined) throw new SecretVersionNotFoundError('latest', integration)
      const next = withMetadata(record, metadata, new Date(this.#clock.now()).toISOString())
      await this.#write(new Map([...integrations, [integration, next]]))
    })
  }

  async health (): Promise<StoreHealth> {
    if (this.#closed) return { ok: false, detail: 'closed' }
    try { await this.#fresh() } catch { /* recorded in #problem */ }
    if (this.#problem !== undefined) return { ok: false, detail: `store file unreadable (${this.#problem.problem})` }
    if (this.#identity === undefined && this.#integrations.size > 0) return { ok: false, detail: 'store file missing; the next write recreates it' }
    return { ok: true, detail: 'ok' }
  }

  /** Lets writes already queued finish; anything queued later is refused. */
  async close (): Promise<void> {
    await this.#queue
    this.#closed = true
    this.#keys?.wipe()
  }

  /** The current state, re-read first when another writer (the CLI, a restore) replaced the file. */
  async #fresh (): Promise<Integrations> {
    if (this.#closed) throw new SecretStoreUnavailableError({ cause: new Error('the file store is closed') })
    const identity = await identify(this.#setup.file).catch(() => null)
    if (identity === null || !sameIdentity(identity, this.#identity)) await this.#exclusive(async () => {}, true)
    return this.#integrations
  }

  /**
   * Runs `change` alone, after re-reading a replaced file; it never runs while the file on disk is unreadable. A
   * change (not a read) runs under the cross-process lock, on the file as it is on disk now: the compare of a
   * check-and-set and the rename that follows see no other process's write in between.
   */
  async #exclusive<T> (change: (integrations: Integrations) => Promise<T>, readOnly = false): Promise<T> {
    const run = this.#queue.then(async () => {
      if (readOnly) {
        await this.#reloadIfReplaced()
        return await change(this.#integrations)
      }
      if (this.#closed) throw new SecretStoreUnavailableError({ cause: new Error('the file store is closed') })
      await mkdir(path.dirname(this.#setup.file), { recursive: true, mode: 0o700 })
      const locked = withFileLock(this.#setup.file, async () => {
        await this.#reloadIfReplaced(true)
        if (this.#problem !== undefined) throw new SecretStoreUnavailableError({ cause: this.#problem })
        return await change(this.#integrations)
      })
      return await locked.catch((error: unknown) => {
        if (error instanceof FileLockTimeoutError) throw new SecretStoreUnavailableError({ cause: error })
        throw error
      })
    })
    this.#queue = run.catch(() => {})
    return await run
  }

  /** `always`: read the file even when it looks unchanged (inode, size and mtime can repeat). */
  async #reloadIfReplaced (always = false): Promise<void> {
    try {
      const identity = await identify(this.#setup.file)
      const unchanged = sameIdentity(identity, this.#identity) && this.#problem?.problem !== 'unreadable'
      if (unchanged && (!always || identity === undefined)) return
      this.#identity = identity
      if (identity === undefined) {
        this.#problem = undefined
        this.#setup.logger.error({ path: this.#setup.file }, 'secret store file disappeared; serving the last state read, the next write recreates it')
        return
      }
      await this.#load(await readFile(this.#setup.file, 'utf8').catch((error: unknown) => { throw unreadable(this.#setup.file, error) }))
      this.#problem = undefined
      if (!unchanged) this.#setup.logger.info({ path: this.#setup.file, integrations: this.#integrations.size }, 'secret store file changed on disk; re-read it')
    } catch (error) {
      if (!(error instanceof SecretFileError)) throw error
      this.#problem = error
      this.#setup.logger.error({ path: this.#setup.file, problem: error.problem, detail: error.message }, 'secret store file cannot be read; serving the last good state and refusing writes')
    }
  }

  async #load (text: string): Promise<void> {
    const opened = await openDocument(text, this.#setup.file, await this.#storeKeys(false), this.#setup.keyAdvice)
    this.#integrations = opened.integrations
    this.#sealing = opened.sealing
  }

  /**
   * The keys, reading the key file when this store opened without one: another process has created it since, or
   * (`create`, the first write, under the lock) it is made now. loadKeyFile creates it only while no store file exists.
   */
  async #storeKeys (create: boolean): Promise<StoreKeys> {
    if (this.#keys !== undefined) return this.#keys
    const exists = !create || (await identify(this.#setup.file)) !== undefined
    const key = await loadKeyFile(`${this.#setup.file}.key`, { file: this.#setup.file, exists }, this.#setup.logger)
    this.#keys = new StoreKeys({ type: 'raw', key })
    return this.#keys
  }

  async #newSealing (keys: StoreKeys): Promise<Sealing> {
    const kdf = keys.newKdf()
    this.#sealing = { key: await keys.keyFor(kdf), kdf }
    return this.#sealing
  }

  /** Seals and replaces the file atomically; memory changes only after the new file is durable. */
  async #write (integrations: Integrations): Promise<void> {
    let sealing = this.#sealing
    if (sealing === undefined) {
      sealing = await this.#newSealing(await this.#storeKeys(true))
      this.#setup.logger.info({ path: this.#setup.file, keySource: this.keySource, keyFingerprint: keyId(sealing.key) }, 'file secret store created')
    }
    const sealed = sealDocument(integrations, sealing)
    try {
      await writeFileAtomic(this.#setup.file, sealed)
    } catch (error) {
      this.#setup.logger.error({ path: this.#setup.file, code: (error as NodeJS.ErrnoException).code }, 'secret store write failed; the previous file is intact')
      throw new SecretStoreUnavailableError({ cause: error })
    }
    this.#integrations = integrations
    this.#identity = await identify(this.#setup.file)
  }
}
