/**
 * Where caller JWTs' verification keys come from: a shared HS256 secret (given, or generated on first start in
 * the data folder), PEM public keys (RS256/ES256/EdDSA), or a JWKS URL (e.g. a Kubernetes cluster's service-account
 * issuer). The algorithm list is pinned to the key type, so an HS256 token can never be checked against a public
 * key (key confusion) and `alg: none` is never accepted.
 */
import { randomBytes, createPublicKey, type KeyObject } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { BrokerConfig } from '../config/schema.js'

export type Algorithm = 'HS256' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA'

export type CallerKeys =
  | { kind: 'hs256', secret: string, generatedFile?: string }
  | { kind: 'public-keys', keys: ReadonlyMap<string, string>, algorithms: Algorithm[] }
  | { kind: 'jwks', url: string }

export const CALLER_KEY_FILE = 'caller-signing.key'

/** Resolves the configured key source; with none configured, reads or creates the local HS256 key (0600). */
export function resolveCallerKeys (config: BrokerConfig): CallerKeys {
  const jwt = config.callers.jwt
  if (jwt.hs256Secret !== undefined) return { kind: 'hs256', secret: jwt.hs256Secret }
  if (jwt.jwksUrl !== undefined) return { kind: 'jwks', url: jwt.jwksUrl }
  if (jwt.publicKeys !== undefined) {
    const keys = new Map<string, string>()
    const algorithms = new Set<Algorithm>()
    for (const file of jwt.publicKeys) {
      const pem = readFileSync(file, 'utf8')
      for (const algorithm of algorithmsFor(createPublicKey(pem))) algorithms.add(algorithm)
      keys.set(path.basename(file).replace(/\.[^.]*$/, ''), pem)
    }
    return { kind: 'public-keys', keys, algorithms: [...algorithms] }
  }
  return { kind: 'hs256', ...generatedSecret(config.dataDir) }
}

function generatedSecret (dataDir: string): { secret: string, generatedFile: string } {
  const file = path.resolve(dataDir, CALLER_KEY_FILE)
  try {
    return { secret: readFileSync(file, 'utf8').trim(), generatedFile: file }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
  const secret = randomBytes(48).toString('base64url')
  try {
    writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' })
  } catch (error) {
    // Another process (a CLI call beside the server) created it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return { secret: readFileSync(file, 'utf8').trim(), generatedFile: file }
    throw error
  }
  return { secret, generatedFile: file }
}

export function algorithmsFor (key: KeyObject): Algorithm[] {
  switch (key.asymmetricKeyType) {
    case 'rsa': return ['RS256', 'RS384', 'RS512']
    case 'rsa-pss': return ['PS256', 'PS384', 'PS512']
    case 'ec': return ['ES256', 'ES384', 'ES512']
    case 'ed25519': return ['EdDSA']
    default: throw new Error(`unsupported public key type ${key.asymmetricKeyType ?? 'unknown'}`)
  }
}
