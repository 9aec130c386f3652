/**
 * A small JWKS client: keys fetched from the configured URL, indexed by `kid`, kept for `ttlMs`, refetched at most
 * once per `minRefetchMs` when an unknown `kid` shows up (so a flood of made-up `kid`s cannot hammer the issuer).
 * While the endpoint fails, the last keys keep serving and it is tried again at most once per `failureBackoffMs`:
 * tokens (even unsigned garbage with a `kid`) must never turn into one JWKS request each.
 */
import { createPublicKey } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Dispatcher } from 'undici'
import { createAgent, request } from '../atlassian/undici-parts.js'

export interface JwksKey { pem: string, kid: string | undefined }

/** No key can be had: the endpoint failed and no earlier answer is kept. Not the caller's fault. */
export class JwksUnavailableError extends Error {
  override readonly name = 'JwksUnavailableError'
}

export class JwksClient {
  readonly #url: string
  readonly #ttlMs: number
  readonly #minRefetchMs: number
  readonly #failureBackoffMs: number
  readonly #bearerTokenFile: string | undefined
  readonly #dispatcher: Dispatcher | undefined
  readonly #now: () => number
  #keys: JwksKey[] = []
  #fetchedAt = -Infinity
  #attemptedAt = -Infinity
  #lastFailure: Error | undefined
  #pending: Promise<void> | undefined

  constructor (
    url: string,
    options: {
      ttlMs?: number
      minRefetchMs?: number
      failureBackoffMs?: number
      bearerTokenFile?: string
      caFile?: string
      now?: () => number
    } = {}
  ) {
    this.#url = url
    this.#ttlMs = options.ttlMs ?? 600_000
    this.#minRefetchMs = options.minRefetchMs ?? 30_000
    this.#failureBackoffMs = options.failureBackoffMs ?? 5_000
    this.#bearerTokenFile = options.bearerTokenFile
    this.#dispatcher =
      options.caFile !== undefined ? createAgent({ connect: { ca: readFileSync(options.caFile, 'utf8') } }) : undefined
    this.#now = options.now ?? Date.now
  }

  async keyFor (kid: string | undefined): Promise<string | undefined> {
    const now = this.#now()
    const stale = now - this.#fetchedAt > this.#ttlMs
    const known = stale ? undefined : this.#find(kid)
    if (known !== undefined) return known.pem
    const interval = this.#lastFailure !== undefined ? this.#failureBackoffMs : stale ? 0 : this.#minRefetchMs
    if (now - this.#attemptedAt >= interval) {
      try {
        await this.#refresh()
      } catch {
        // logged by the caller's 401/503; stale keys (if any) keep serving below
      }
    }
    if (this.#keys.length === 0 && this.#lastFailure !== undefined) {
      throw new JwksUnavailableError('the JWKS endpoint is unavailable and no keys are kept', {
        cause: this.#lastFailure
      })
    }
    return this.#find(kid)?.pem
  }

  #refresh (): Promise<void> {
    this.#pending ??= this.#load()
      .then(
        () => {
          this.#lastFailure = undefined
        },
        (error: unknown) => {
          this.#lastFailure = error instanceof Error ? error : new Error(String(error))
          throw error
        }
      )
      .finally(() => {
        this.#pending = undefined
      })
    return this.#pending
  }

  #find (kid: string | undefined): JwksKey | undefined {
    if (kid === undefined) return this.#keys.length === 1 ? this.#keys[0] : undefined
    return this.#keys.find((key) => key.kid === kid)
  }

  async #load (): Promise<void> {
    this.#attemptedAt = this.#now()
    const headers: Record<string, string> = { accept: 'application/json' }
    // Projected service-account tokens rotate on disk, so the file is read at every fetch.
    if (this.#bearerTokenFile !== undefined) { headers.authorization = `Bearer ${readFileSync(this.#bearerTokenFile, 'utf8').trim()}` }
    const response = await request(this.#url, {
      headers,
      headersTimeout: 5_000,
      bodyTimeout: 5_000,
      ...(this.#dispatcher ? { dispatcher: this.#dispatcher } : {})
    })
    if (response.statusCode !== 200) {
      await response.body.dump()
      throw new Error(`JWKS endpoint answered ${response.statusCode}`)
    }
    const document = (await response.body.json()) as { keys?: Array<Record<string, unknown>> }
    const keys: JwksKey[] = []
    for (const jwk of document.keys ?? []) {
      if (jwk.use !== undefined && jwk.use !== 'sig') continue
      try {
        const pem = createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' })
          .export({ type: 'spki', format: 'pem' })
          .toString()
        keys.push({ pem, kid: typeof jwk.kid === 'string' ? jwk.kid : undefined })
      } catch {
        // skip keys of types we cannot use
      }
    }
    this.#keys = keys
    this.#fetchedAt = this.#now()
  }
}
