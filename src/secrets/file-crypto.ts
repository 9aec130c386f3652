/**
 * The embedded store's bytes on disk: the master key (BROKER_MASTER_KEY or a key file), the versioned envelope that
 * seals the store with AES-256-GCM (NIST SP 800-38D: a fresh random 96-bit IV for every encryption under a key), and
 * the atomic replacement of the file. The envelope carries a key id (an HMAC of the key, never the key) so a wrong
 * key is told apart from a damaged file.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, scrypt as scryptCallback } from 'node:crypto'
import { link, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import type pino from 'pino'

export const FILE_FORMAT = 'atlassian-broker/secrets'
export const FILE_FORMAT_VERSION = 1

/** Why the store file could not be used; each case says in its message what the operator should do. */
export type SecretFileProblem = 'wrong-key' | 'corrupt' | 'unsupported-format' | 'key-missing' | 'bad-master-key' | 'unreadable'

/** A startup (or reload) failure of the file store. It is never a reason to overwrite the file. */
export class SecretFileError extends Error {
  readonly code = 'BROKER_ERR_SECRET_FILE'
  constructor (readonly problem: SecretFileProblem, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'SecretFileError'
  }
}

/** scrypt parameters stored in the envelope, so a passphrase derives the same key on every start (RFC 7914). */
export interface ScryptParams { name: 'scrypt', salt: string, N: number, r: number, p: number }

export interface Envelope {
  format: typeof FILE_FORMAT
  v: number
  /** Key id: the first 64 bits of HMAC-SHA256(key, KEY_ID_LABEL), hex. */
  kid: string
  kdf?: ScryptParams
  iv: string
  tag: string
  ciphertext: string
}

/** The master key as given: 32 raw bytes, or a passphrase to derive a key from with each file's salt. */
export type MasterKey = { type: 'raw', key: Buffer } | { type: 'passphrase', passphrase: string }

const KEY_ID_LABEL = 'atlassian-broker/secrets key id v1'
const MIN_PASSPHRASE_LENGTH = 12
/** Temp files younger than this may belong to another process writing right now (e.g. the CLI), so they stay. */
const STALE_TEMP_AGE_MS = 60_000
// OWASP's scrypt baseline (N=2^17, r=8, p=1) costs 128 MiB; 2^15 keeps a sidecar's start under ~100 ms on one core.
const DEFAULT_SCRYPT = { N: 2 ** 15, r: 8, p: 1 } as const
const scrypt = promisify(scryptCallback) as (password: string, salt: Buffer, keylen: number, options: object) => Promise<Buffer>

/** Reads BROKER_MASTER_KEY: 64 hex digits or base64(url) of exactly 32 bytes is a raw key; anything else a passphrase. */
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
 * Reads the key file beside the store, or creates it when no store file exists yet: a new key for an existing store
 * could never open it, and would hide the real problem (a lost key file). Creation writes a
 * temp file opened 'wx' with mode 0600 and hard-links it into place: the key file never exists half-written or
 * with looser permissions, and when two processes race, both end up with the winner's key.
 */
export async function loadKeyFile (keyFile: string, store: { file: string, exists: boolean }, logger: pino.Logger): Promise<Buffer> {
  let text: string | undefined
  try { text = await readFile(keyFile, 'utf8') } catch (error) { if (!isNotFound(error)) throw unreadable(keyFile, error) }
  if (text === undefined && !store.exists) {
    await createKeyFile(keyFile)
    text = await readFile(keyFile, 'utf8')
    logger.info({ keyFile }, 'created a new master key file; back it up together with the store file')
  }
  if (text === undefined) {
    throw new SecretFileError('key-missing', `${store.file} exists but its key file ${keyFile} is missing; restore ${keyFile} from a backup or set BROKER_MASTER_KEY to the key that encrypted it (no new key was created, so the store stays recoverable)`)
  }
  const key = decodeRawKey(text.trim())
  if (key === undefined) {
    throw new SecretFileError('bad-master-key', `${keyFile} does not hold a 32-byte key in base64 or hex; restore it from a backup, or set BROKER_MASTER_KEY to the original key`)
  }
  const { mode } = await stat(keyFile)
  if ((mode & 0o077) !== 0) logger.warn({ keyFile, mode: (mode & 0o777).toString(8) }, 'master key file is readable by others; chmod 600 it')
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

/**
 * Replaces `file` so that a crash at any point leaves the old contents or the new, never a mix: a 0600 temp file in
 * the same folder (rename is atomic only within one file system), fsync, rename, then fsync of the folder.
 */
export async function writeFileAtomic (file: string, contents: string): Promise<void> {
  const temp = tempPath(file)
  try {
    const handle = await open(temp, 'wx', 0o600)
    try {
      await handle.writeFile(contents)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(temp, file)
  } catch (error) {
    await rm(temp, { force: true })
    throw error
  }
  await fsyncDirectory(path.dirname(file))
}

/** A unique sibling name for an atomic write; `removeStaleTemps` recognises leftovers after a crash. */
function tempPath (target: string): string {
  return `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`
}

/** A crash between creating a temp file and renaming it leaves the temp behind; the real file is untouched. */
export async function removeStaleTemps (file: string, logger: pino.Logger): Promise<void> {
  const directory = path.dirname(file)
  const base = path.basename(file)
  for (const name of await readdir(directory)) {
    if (!name.startsWith(`${base}.tmp-`) && !name.startsWith(`${base}.key.tmp-`)) continue
    const leftover = path.join(directory, name)
    const modified = await stat(leftover).then(({ mtimeMs }) => mtimeMs, () => Date.now()) // gone already: its writer finished
    if (Date.now() - modified < STALE_TEMP_AGE_MS) continue
    await rm(leftover, { force: true })
    logger.warn({ file: leftover }, 'removed a temp file left by an interrupted write')
  }
}

/** Makes a rename or link durable: POSIX only guarantees a directory entry after fsync of the directory. */
export async function fsyncDirectory (directory: string): Promise<void> {
  const handle = await open(directory, 'r')
  try { await handle.sync() } finally { await handle.close() }
}

/** Binds the header to the ciphertext, so editing `kid` or `kdf` fails authentication like editing the data. */
function additionalData (kid: string, kdf: ScryptParams | undefined): Buffer {
  const kdfText = kdf === undefined ? 'raw' : `scrypt:${kdf.salt}:${kdf.N}:${kdf.r}:${kdf.p}`
  return Buffer.from(`${FILE_FORMAT}\n${FILE_FORMAT_VERSION}\n${kid}\n${kdfText}`)
}

export function seal (plaintext: Buffer, key: Buffer, kdf: ScryptParams | undefined): string {
  const kid = keyId(key)
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(additionalData(kid, kdf))
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()])
  const envelope: Envelope = {
    format: FILE_FORMAT,
    v: FILE_FORMAT_VERSION,
    kid,
    ...(kdf === undefined ? {} : { kdf }),
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    ciphertext: ciphertext.toString('base64')
  }
  return `${JSON.stringify(envelope)}\n`
}

/** Parses the envelope; a truncated or edited file is `corrupt`, a foreign or newer one `unsupported-format`. */
export function parseEnvelope (text: string, file: string): Envelope {
  let value: unknown
  try { value = JSON.parse(text) } catch { throw corrupt(file, 'it is not complete JSON, perhaps truncated') }
  if (typeof value !== 'object' || value === null) throw corrupt(file, 'it is not a JSON object')
  const envelope = value as Partial<Envelope>
  if (envelope.format !== FILE_FORMAT) {
    throw new SecretFileError('unsupported-format', `${file} is not an atlassian-broker secrets file; point secrets.file.path at the right file`)
  }
  if (envelope.v !== FILE_FORMAT_VERSION) {
    throw new SecretFileError('unsupported-format', `${file} has format version ${String(envelope.v)}, this broker reads version ${FILE_FORMAT_VERSION}; run the broker release that wrote it`)
  }
  if (typeof envelope.kid !== 'string' || !isBase64(envelope.iv, 12) || !isBase64(envelope.tag, 16) || typeof envelope.ciphertext !== 'string') {
    throw corrupt(file, 'a header field is missing or malformed')
  }
  if (envelope.kdf !== undefined && !isScryptParams(envelope.kdf)) throw corrupt(file, 'the kdf parameters are malformed')
  return envelope as Envelope
}

/** Decrypts; a key whose id differs is `wrong-key`, a matching key that fails authentication means `corrupt`. */
export function openEnvelope (envelope: Envelope, key: Buffer, file: string, keyAdvice: string): Buffer {
  const kid = keyId(key)
  if (kid !== envelope.kid) {
    throw new SecretFileError('wrong-key', `the master key does not match the one that encrypted ${file} (key fingerprint ${envelope.kid} expected, ${kid} given); ${keyAdvice}. The file was left untouched`)
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(envelope.iv, 'base64'))
    decipher.setAAD(additionalData(envelope.kid, envelope.kdf))
    decipher.setAuthTag(Buffer.from(envelope.tag, 'base64'))
    return Buffer.concat([decipher.update(Buffer.from(envelope.ciphertext, 'base64')), decipher.final()])
  } catch (error) {
    throw corrupt(file, 'its contents fail authentication although the key fingerprint matches', error)
  }
}

export function corrupt (file: string, detail: string, cause?: unknown): SecretFileError {
  return new SecretFileError('corrupt', `${file} is corrupted (${detail}); restore it from a backup. The broker will not overwrite it`, { cause })
}

export function unreadable (file: string, error: unknown): SecretFileError {
  const code = (error as NodeJS.ErrnoException).code ?? 'error'
  return new SecretFileError('unreadable', `cannot read ${file} (${code}); check its ownership and permissions`, { cause: error })
}

export function isNotFound (error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT'
}

function isBase64 (value: unknown, bytes: number): boolean {
  return typeof value === 'string' && Buffer.from(value, 'base64').length === bytes
}

/** Bounds the cost a file can ask for, so a tampered header cannot make startup allocate gigabytes. */
function isScryptParams (kdf: unknown): kdf is ScryptParams {
  const { name, salt, N, r, p } = kdf as Record<string, unknown>
  return name === 'scrypt' && isBase64(salt, 16) && isIntegerIn(N, 2 ** 14, 2 ** 20) && (N & (N - 1)) === 0 &&
    isIntegerIn(r, 1, 16) && isIntegerIn(p, 1, 4)
}

function isIntegerIn (value: unknown, min: number, max: number): value is number {
  return Number.isInteger(value) && (value as number) >= min && (value as number) <= max
}
