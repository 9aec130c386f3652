/**
 * A small JWKS client: keys fetched from the configured URL, indexed by `kid`, kept for `ttlMs`, refetched at most
 * once per `minRefetchMs` when an unknown `kid` shows up (so a flood of made-up `kid`s cannot hammer the issuer).
 */
import { createPublicKey } from 'node:crypto'
import { request } from 'undici'

export interface JwksKey { pem: string, kid: string | undefined }

export class JwksClient {
  readonly #url: string
  readonly #ttlMs: number
  readonly #minRefetchMs: number
  readonly #headers: Record<string, string>
  #keys: JwksKey[] = []
  #fetchedAt = 0
  #pending: Promise<void> | undefined

  constructor (url: string, options: { ttlMs?: number, minRefetchMs?: number, bearerTokenFile?: string, headers?: Record<string, string> } = {}) {
    this.#url = url
    this.#ttlMs = options.ttlMs ?? 600_000
    this.#minRefetchMs = options.minRefetchMs ?? 30_000
    this.#headers = options.headers ?? {}
  }

  async keyFor (kid: string | undefined): Promise<string | undefined> {
    const now = Date.now()
    if (now - this.#fetchedAt > this.#ttlMs) await this.#refresh()
    let key = this.#find(kid)
    if (key === undefined && now - this.#fetchedAt > this.#minRefetchMs) {
      await this.#refresh()
      key = this.#find(kid)
    }
    return key?.pem
  }

  #find (kid: string | undefined): JwksKey | undefined {
    if (kid === undefined) return this.#keys.length === 1 ? this.#keys[0] : undefined
    return this.#keys.find((key) => key.kid === kid)
  }

  async #refresh (): Promise<void> {
    this.#pending ??= this.#load().finally(() => { this.#pending = undefined })
    await this.#pending
  }

  async #load (): Promise<void> {
    const response = await request(this.#url, { headers: { accept: 'application/json', ...this.#headers }, headersTimeout: 5_000, bodyTimeout: 5_000 })
    if (response.statusCode !== 200) {
      await response.body.dump()
      throw new Error(`JWKS endpoint answered ${response.statusCode}`)
    }
    const document = await response.body.json() as { keys?: Array<Record<string, unknown>> }
    const keys: JwksKey[] = []
    for (const jwk of document.keys ?? []) {
      if (jwk.use !== undefined && jwk.use !== 'sig') continue
      try {
        const pem = createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()
        keys.push({ pem, kid: typeof jwk.kid === 'string' ? jwk.kid : undefined })
      } catch {
        // skip keys of types we cannot use
      }
    }
    this.#keys = keys
    this.#fetchedAt = Date.now()
  }
}
