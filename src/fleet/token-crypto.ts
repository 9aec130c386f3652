/**
 * Seals an access token for Redis: AES-256-GCM under a key derived (HKDF-SHA256) from the credential itself and its
 * store version. Only a sidecar that can read the credential can read the token, and a new version derives a new key,
 * so a rotation orphans old entries by construction. The Redis key name is the AEAD's associated data: an entry
 * copied under another key (another integration, version or deployment) does not open. Anything that does not open
 * is a cache miss, never an error.
 * The same derivation (another salt) gives each credential version an HMAC key for what else sidecars share through
 * Redis: events (fleet-events.ts) and the quota-hold entry (shared-hold.ts). Someone who can write to Redis but
 * cannot read the credential can neither read a token nor forge what the sidecars act on.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'
import type { CredentialData, StoredSecret } from '../secrets/secret-store.js'

const SALT = Buffer.from('atlassian-broker/fleet-token/v1')
const MAC_SALT = Buffer.from('atlassian-broker/fleet-mac/v1')
const IV_BYTES = 12
const TAG_BYTES = 16
/** An entry longer than this is not ours: not even tried. */
export const MAX_ENTRY_CHARS = 16_384

function derive (salt: Buffer, integration: string, version: number, data: CredentialData): Buffer {
  const material = Buffer.from(JSON.stringify([data.client_id ?? '', data.client_secret ?? '', data.token ?? '']))
  const key = Buffer.from(hkdfSync('sha256', material, salt, `${integration}\u0000${version}`, 32))
  material.fill(0)
  return key
}

type Secret = Pick<StoredSecret, 'data' | 'version'>

/** The derived keys of the secrets in use, each derived once per secret object (a new version is a new object). */
export class FleetKeyring {
  readonly #tokenKeys = new WeakMap<object, Buffer>()
  readonly #macKeys = new WeakMap<object, Buffer>()

  tokenKey (integration: string, secret: Secret): Buffer {
    return this.#get(this.#tokenKeys, SALT, integration, secret)
  }

  macKey (integration: string, secret: Secret): Buffer {
    return this.#get(this.#macKeys, MAC_SALT, integration, secret)
  }

  #get (cache: WeakMap<object, Buffer>, salt: Buffer, integration: string, secret: Secret): Buffer {
    let key = cache.get(secret)
    if (key === undefined) {
      key = derive(salt, integration, secret.version, secret.data)
      cache.set(secret, key)
    }
    return key
  }
}

/** HMAC-SHA256 of `text`, base64url. */
export function sign (key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text).digest('base64url')
}

/** Constant-time check of a `sign()` result; false for anything malformed. */
export function verify (key: Buffer, text: string, mac: unknown): boolean {
  if (typeof mac !== 'string' || mac.length !== 43) return false
  const expected = Buffer.from(sign(key, text))
  const given = Buffer.from(mac)
  return given.length === expected.length && timingSafeEqual(given, expected)
}

export function seal (key: Buffer, redisKey: string, plaintext: string): string {
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(Buffer.from(redisKey))
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64')
}

/** The plaintext, or undefined for anything tampered, truncated, foreign or not base64. */
export function open (key: Buffer, redisKey: string, entry: unknown): string | undefined {
  if (typeof entry !== 'string' || entry.length > MAX_ENTRY_CHARS) return undefined
  const raw = Buffer.from(entry, 'base64')
  if (raw.length < IV_BYTES + TAG_BYTES + 1) return undefined
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES))
    decipher.setAAD(Buffer.from(redisKey))
    decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES))
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8')
  } catch {
    return undefined
  }
}
