/**
 * How the broker obtains a Vault token: one interface, one file per method (approle.ts, kubernetes.ts, token.ts), as
 * Vault Agent's auth/ holds one folder per method behind its AuthMethod interface. The session (../vault-session.ts)
 * owns the token once obtained; its renewal (../renewal.ts) keeps it alive.
 */
import { readFile } from 'node:fs/promises'
import type { Logger } from 'pino'
import type { VaultConfig } from '../../../config/schema.js'
import { SecretStoreUnavailableError, withRetryAfter } from '../../../errors.js'
import { RETRY_AFTER_UNAVAILABLE_SECONDS, VaultCallError, type VaultClient } from '../vault-client.js'

/** A token and its lease as Vault granted it. */
export interface Grant {
  token: string
  ttlSeconds: number
  renewable: boolean
  /** What to ask for at each renewal. */ increment: number
}

export interface LoginMethod {
  readonly name: VaultConfig['auth']['method']
  /** False for a given token: when it dies there is nothing to log in again with, only an operator can replace it. */
  readonly canLogInAgain: boolean
  /** The Vault path a refused login is reported against. */
  readonly path: string
  /** What an operator should check when Vault refuses the login. */
  readonly refusalHint: string
  /** Obtains a token (and sets it on the client where the method needs it to ask); throws what the client threw. */
  obtain (client: VaultClient): Promise<Grant>
}

/**
 * POSTs a login to `auth/<mount>/login`. Written out rather than node-vault's kubernetesLogin(), which posts to
 * auth//login without a mount_point (issue #300).
 */
export async function loginAt (client: VaultClient, mountPath: string, body: Record<string, string>): Promise<Grant> {
  const response = (await client.write(`auth/${mountPath}/login`, body)) as
    { auth?: { client_token?: unknown, lease_duration?: unknown, renewable?: unknown } } | undefined
  const token = response?.auth?.client_token
  if (typeof token !== 'string' || token === '') { throw new VaultCallError({ status: 200, vaultErrors: ['the login answer carried no client token'] }) }
  const ttlSeconds = Number(response?.auth?.lease_duration ?? 0)
  return { token, ttlSeconds, renewable: response?.auth?.renewable === true, increment: ttlSeconds }
}

/**
 * Reads a login credential (AppRole secret id, projected service-account token) afresh at each login, so a rotated
 * file is picked up. A missing or empty file makes the store unavailable, logged with the setting that names it.
 */
export async function readCredentialFile (file: string, setting: string, log: Logger): Promise<string> {
  let text: string
  try {
    text = (await readFile(file, 'utf8')).trim()
  } catch (error) {
    log.error(
      { setting, file, code: (error as NodeJS.ErrnoException).code },
      'cannot read the Vault login credential file'
    )
    throw withRetryAfter(new SecretStoreUnavailableError(), RETRY_AFTER_UNAVAILABLE_SECONDS)
  }
  if (text === '') {
    log.error({ setting, file }, 'the Vault login credential file is empty')
    throw withRetryAfter(new SecretStoreUnavailableError(), RETRY_AFTER_UNAVAILABLE_SECONDS)
  }
  return text
}
