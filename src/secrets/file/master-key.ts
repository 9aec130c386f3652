/**
 * The embedded store's master key: BROKER_MASTER_KEY (32 raw bytes, or a passphrase stretched with scrypt and each
 * file's salt), or a key file beside the store, created on first use. The key id (an HMAC of the key, never the key)
 * lets the envelope tell a wrong key from a damaged file.
 */
import { createHmac, randomBytes, scrypt as scryptCallback } from 'node:crypto'
import { link, open, readFile, stat, unlink } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import type pino from 'pino'
import { fsyncDirectory, tempPath } from './atomic-write.js'
import { isNotFound, SecretFileError, unreadable } from './secret-file-error.js'

/** scrypt parameters stored in the envelope, so a passphrase derives the same key on every start (RFC 7914). */
export interface ScryptParams { name: 'scrypt', salt: string, N: number, r: number, p: number }

/** The master key as given: 32 raw bytes, or a passphrase to derive a key from with each file's salt. */
export type MasterKey = { type: 'raw', key: Buffer } | { type: 'passphrase', passphrase: string }

const KEY_ID_LABEL = 'atlassian-broker/secrets key id v1'
const MIN_PASSPHRASE_LENGTH = 12
// OWASP's scrypt baseline (N=2^17, r=8, p=1) costs 128 MiB; 2^15 keeps a sidecar's start under ~100 ms on one core.
const DEFAULT_SCRYPT = { N: 2 ** 15, r: 8, p: 1 } as const
const scrypt = promisify(scryptCallback) as (
  password: string,
  salt: Buffer,
  keylen: number,
  options: object
) => Promise<Buffer>

/** Reads BROKER_MASTER_KEY: 64 hex digits or base64(url) of exactly 32 bytes is a raw key; anything else a passphrase.
 */
export function parseMasterKey (text: string): MasterKey {
  const trimmed = text.trim()
  const raw = decodeRawKey(trimmed)
  if (raw !== undefined) return { type: 'raw', key: raw }
  if (trimmed.length < MIN_PASSPHRASE_LENGTH) {
    throw new SecretFileError('bad-master-key', `BROKER_MASTER_KEY must be 32 bytes as 64 hex digits or base64, or a passphrase of at least ${MIN_PASSPHRASE_LENGTH} characters (it has ${trimmed.length})`)
  }
  return { type: 'passphrase', passphrase: trimmed }
}

function decodeRawKey (text: string): Buffer | undefined {
  if (/^[0-9a-f]{64}$/i.test(text)) return Buffer.from(text, 'hex')
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) {
    const key = Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64')
    if (key.length === 32) return key
  }
  return undefined
}

export function keyId (key: Buffer): string {
  return createHmac('sha256', key).update(KEY_ID_LABEL).digest('hex').slice(0, 16)
}

export function newScryptParams (): ScryptParams {
  return { name: 'scrypt', salt: randomBytes(16).toString('base64'), ...DEFAULT_SCRYPT }
}

export async function deriveKey (passphrase: string, params: ScryptParams): Promise<Buffer> {
  return await scrypt(passphrase, Buffer.from(params.salt, 'base64'), 32, { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r })
}

/**
 * The keys a store seals and opens with: the raw master key itself, or keys derived from the passphrase, one per salt
 * (scrypt is slow on purpose, so each is derived once and kept until the store closes).
 */
export class StoreKeys {
  readonly #master: MasterKey
  readonly #derived = new Map<string, Buffer>()

  constructor (master: MasterKey) {
    this.#master = master
  }

  get passphrase (): boolean { return this.#master.type === 'passphrase' }

  /** The scrypt parameters for a new store file: a fresh salt for a passphrase, none for a raw key. */
  newKdf (): ScryptParams | undefined {
    return this.#master.type === 'passphrase' ? newScryptParams() : undefined
  }

  async keyFor (kdf: ScryptParams | undefined): Promise<Buffer> {
    const master = this.#master
    if (master.type === 'raw') return master.key
    if (kdf === undefined) throw new Error('a passphrase needs scrypt parameters')
    const cached = this.#derived.get(kdf.salt)
    if (cached !== undefined) return cached
    const key = await deriveKey(master.passphrase, kdf)
    this.#derived.set(kdf.salt, key)
    return key
  }

  /** Overwrites every key held in memory. */
  wipe (): void {
    for (const key of this.#derived.values()) key.fill(0)
    if (this.#master.type === 'raw') this.#master.key.fill(0)
  }
}

/**
 * Reads the key file beside the store, or creates it when no store file exists yet: a new key for an existing store
 * could never open it, and would hide the real problem (a lost key file). Creation writes a
 * temp file opened 'wx' with mode 0600 and hard-links it into place: the key file never exists half-written or
 * with looser permissions, and when two processes race, both end up with the winner's key.
 */
export async function loadKeyFile (
  keyFile: string,
  store: { file: string, exists: boolean },
  logger: pino.Logger
): Promise<Buffer> {
  let text: string | undefined
  try {
    text = await readFile(keyFile, 'utf8')
  } catch (error) {
    if (!isNotFound(error)) throw unreadable(keyFile, error)
  }
  if (text === undefined && !store.exists) {
    await createKeyFile(keyFile)
    text = await readFile(keyFile, 'utf8')
    logger.info({ keyFile }, 'created a new master key file; back it up together with the store file')
  }
  if (text === undefined) {
    throw new SecretFileError(
      'key-missing',
      `${store.file} exists but its key file ${keyFile} is missing; restore ${keyFile} from a backup or set BROKER_MASTER_KEY to the key that encrypted it (no new key was created, so the store stays recoverable)`
    )
  }
  const key = decodeRawKey(text.trim())
  if (key === undefined) {
    throw new SecretFileError(
      'bad-master-key',
      `${keyFile} does not hold a 32-byte key in base64 or hex; restore it from a backup, or set BROKER_MASTER_KEY to the original key`
    )
  }
  const { mode } = await stat(keyFile)
  if ((mode & 0o077) !== 0) { logger.warn({ keyFile, mode: (mode & 0o777).toString(8) }, 'master key file is readable by others; chmod 600 it') }
  return key
}

async function createKeyFile (keyFile: string): Promise<void> {
  const temp = tempPath(keyFile)
  const key = randomBytes(32)
  const handle = await open(temp, 'wx', 0o600)
  try {
    await handle.writeFile(`${key.toString('base64')}\n`)
    await handle.sync()
  } finally {
    key.fill(0)
    await handle.close()
  }
  try {
    await link(temp, keyFile)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  } finally {
    await unlink(temp)
  }
  await fsyncDirectory(path.dirname(keyFile))
}
