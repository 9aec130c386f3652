/**
 * The embedded store's bytes on disk: the versioned envelope that seals the store with AES-256-GCM (NIST SP 800-38D:
 * a fresh random 96-bit IV for every encryption under a key). The envelope carries the key id (master-key.ts) so a
 * wrong key is told apart from a damaged file, and binds its header to the ciphertext.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { keyId, type ScryptParams } from './master-key.js'
import { corrupt, SecretFileError } from './secret-file-error.js'

export const FILE_FORMAT = 'atlassian-broker/secrets'
export const FILE_FORMAT_VERSION = 1

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
