/**
 * The node-vault client as the broker configures it (TLS through our own agents, no shared headers, no environment
 * fallbacks, no debug output), and the one place its errors are reduced to something safe to keep: node-vault's errors
 * embed the request (the X-Vault-Token header, a login body with the secret id or JWT).
 */
import { readFile } from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import NodeVault from 'node-vault'
import type { VaultConfig } from '../../config/schema.js'

export type VaultClient = NodeVault.client

/** Retry-After advice when Vault is sealed (an operator must unseal it) or otherwise unavailable (seconds). */
export const RETRY_AFTER_SEALED_SECONDS = 30
export const RETRY_AFTER_UNAVAILABLE_SECONDS = 5

/** A failed Vault call with nothing secret in it: the HTTP status and Vault's error texts, or the socket error code. */
export class VaultCallError extends Error {
  override readonly name = 'VaultCallError'
  readonly status: number | undefined
  readonly vaultErrors: readonly string[]
  readonly transportCode: string | undefined

  constructor (detail: { status?: number, vaultErrors?: readonly string[], transportCode?: string }) {
    const texts = detail.vaultErrors ?? []
    super(detail.status === undefined
      ? `Vault request failed (${detail.transportCode ?? 'unknown error'})`
      : `Vault answered ${detail.status}${texts.length > 0 ? `: ${texts.join('; ')}` : ''}`)
    this.status = detail.status
    this.vaultErrors = texts
    this.transportCode = detail.transportCode
  }

  get timedOut (): boolean { return this.transportCode === 'ECONNABORTED' || this.transportCode === 'ETIMEDOUT' }
}

/** Reduces whatever node-vault threw to a VaultCallError. Never keep the original: it carries the request. */
export function describeVaultFailure (error: unknown): VaultCallError {
  if (error instanceof VaultCallError) return error
  const candidate = (error ?? {}) as { response?: { statusCode?: unknown, body?: unknown }, code?: unknown }
  const status = candidate.response?.statusCode
  if (typeof status === 'number') {
    const body = candidate.response?.body as { errors?: unknown } | undefined
    const texts = Array.isArray(body?.errors) ? body.errors.filter((text): text is string => typeof text === 'string') : []
    return new VaultCallError({ status, vaultErrors: texts.flatMap(splitMultiError) })
  }
  return new VaultCallError({ transportCode: typeof candidate.code === 'string' ? candidate.code : 'EUNKNOWN' })
}

/** "2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n" -> ["permission denied", "invalid token"]. */
function splitMultiError (text: string): string[] {
  if (!/^\d+ errors? occurred:/.test(text)) return [text]
  return text.split('\n').map((line) => line.trim()).filter((line) => line.startsWith('* ')).map((line) => line.slice(2))
}

export interface Agents { http: http.Agent, https: https.Agent }

export async function createClient (config: VaultConfig): Promise<{ client: VaultClient, agents: Agents }> {
  let ca: Buffer | undefined
  if (config.tls?.caFile !== undefined) {
    try {
      ca = await readFile(config.tls.caFile)
    } catch (error) {
      throw new Error(`cannot read vault.tls.caFile ${config.tls.caFile} (${(error as NodeJS.ErrnoException).code ?? 'error'})`)
    }
  }
  // Our own agents: node-vault forwards httpAgent/httpsAgent per request, so TLS (ca, servername) lives here and
  // close() can free the sockets. VAULT_SKIP_VERIFY therefore has no effect: verification is never switched off by
  // environment.
  const agents: Agents = {
    http: new http.Agent({ keepAlive: true }),
    https: new https.Agent({
      keepAlive: true,
      ...(ca === undefined ? {} : { ca }),
      ...(config.tls?.serverName === undefined ? {} : { servername: config.tls.serverName })
    })
  }
  const client = NodeVault({
    apiVersion: 'v1',
    endpoint: config.address,
    namespace: config.namespace,
    // A Node server cannot receive LIST, and GET ?list=1 is equivalent on real Vault.
    noCustomHTTPVerbs: true,
    // node-vault's `debug` prints request bodies (secret ids, JWTs, secret values) when DEBUG=node-vault is set.
    debug: () => undefined,
    // No `headers` here: node-vault writes X-Vault-Token into a shared headers object and then keeps sending the old
    // token.
    requestOptions: { timeout: config.requestTimeoutMs, httpAgent: agents.http, httpsAgent: agents.https }
  })
  // node-vault falls back to VAULT_TOKEN, VAULT_NAMESPACE and VAULT_PREFIX from the environment: the config decides.
  Object.assign(client, { token: '', namespace: config.namespace, pathPrefix: '' })
  return { client, agents }
}
