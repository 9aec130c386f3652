/**
 * Gives the forwarder an Authorization header for an integration.
 * OAuth integrations: access tokens from the client-credentials exchange, cached (lru-cache) until shortly before
 * `expires_in` runs out and refreshed ahead of expiry while traffic continues; concurrent misses share one exchange
 * (single-flight); failures are remembered briefly with backoff so a bad credential is not hammered.
 * API-token integrations: the stored scoped token as Bearer, or Basic `email:token` when an email is stored.
 */
import { LRUCache } from 'lru-cache'
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import type { IntegrationConfig } from '../config.js'
import { CredentialInvalidError, CredentialRejectedError, withRetryAfter } from '../errors.js'
import type { CredentialSource } from '../secrets/credential-source.js'
import type { StoredSecret } from '../secrets/secret-store.js'
import { exchangeClientCredentials, type ExchangedToken, type ExchangeRequest } from './exchange.js'

export interface AccessGrant {
  /** The full header value: "Bearer …" or "Basic …". */
  authorization: string
  secretVersion: number
  /** Epoch ms; undefined for API tokens, whose expiry Atlassian does not tell. */
  expiresAt: number | undefined
}

export interface TokenState {
  cached: boolean
  secretVersion: number | undefined
  expiresInSeconds: number | undefined
  lastExchange: { at: string, outcome: 'ok' | 'rejected' | 'unavailable' | 'error' } | undefined
}

export type ExchangeOutcome = 'ok' | 'rejected' | 'unavailable' | 'error'

export interface TokenProviderOptions {
  integrations: Readonly<Record<string, IntegrationConfig>>
  credentials: CredentialSource
  clock: Clock
  logger: Logger
  tokenUrl: string
  timeoutMs: number
  refreshMarginSeconds: number
  /** Swappable for tests and for rotation's verify-before-commit. */
  exchange?: (input: ExchangeRequest) => Promise<ExchangedToken>
  /** Usage hook: one call per exchange attempt. */
  onExchange?: (integration: string, outcome: ExchangeOutcome) => void
  /** Usage hook: one call per lookup of a cached token. */
  onCacheLookup?: (integration: string, hit: boolean) => void
}

interface CachedToken extends AccessGrant {
  expiresAt: number
  usableUntil: number
  refreshAt: number
}

interface Failure { error: Error, until: number, count: number }

const SAFETY_MS = 60_000
const BACKOFF = {
  rejected: { baseMs: 5_000, maxMs: 300_000 },
  unavailable: { baseMs: 1_000, maxMs: 30_000 }
}

export class TokenProvider {
  readonly #options: TokenProviderOptions
  readonly #exchange: (input: ExchangeRequest) => Promise<ExchangedToken>
  readonly #tokens: LRUCache<string, CachedToken>
  readonly #inflight = new Map<string, Promise<CachedToken>>()
  readonly #failures = new Map<string, Failure>()
  readonly #lastExchange = new Map<string, TokenState['lastExchange']>()

  constructor (options: TokenProviderOptions) {
    this.#options = options
    this.#exchange = options.exchange ?? exchangeClientCredentials
    this.#tokens = new LRUCache({ max: Math.max(100, Object.keys(options.integrations).length * 2) })
    // A new credential deserves an immediate try, whatever the backoff said about the old one.
    options.credentials.onChange(({ integration }) => this.#failures.delete(integration))
  }

  async grantFor (integration: string): Promise<AccessGrant> {
    const config = this.#options.integrations[integration]
    if (!config) throw new Error(`unknown integration ${integration}`)
    if (config.credential === 'api-token') return this.#apiTokenGrant(await this.#options.credentials.current(integration))

    const now = this.#options.clock.now()
    const cached = this.#tokens.get(integration)
    if (cached && now < cached.usableUntil) {
      this.#options.onCacheLookup?.(integration, true)
      if (now >= cached.refreshAt && !this.#inflight.has(integration)) {
        this.#mint(integration).catch((error: Error) => {
          this.#options.logger.warn({ integration, code: (error as { code?: string }).code }, 'refresh ahead of expiry failed; the current token stays in use')
        })
      }
      return cached
    }
    this.#options.onCacheLookup?.(integration, false)
    return this.#mint(integration)
  }

  /** Called when Atlassian answered 401 to this grant: forget it unless a newer token already replaced it. */
  invalidate (integration: string, grant: AccessGrant): void {
    const cached = this.#tokens.get(integration)
    if (cached && cached.authorization === grant.authorization) this.#tokens.delete(integration)
  }

  /** Drops the cached token (admin action). */
  drop (integration: string): boolean {
    return this.#tokens.delete(integration)
  }

  state (integration: string): TokenState {
    const cached = this.#tokens.peek(integration)
    const now = this.#options.clock.now()
    const live = cached !== undefined && now < cached.usableUntil
    return {
      cached: live,
      secretVersion: live ? cached.secretVersion : this.#options.credentials.cachedVersion(integration),
      expiresInSeconds: live ? Math.round((cached.expiresAt - now) / 1000) : undefined,
      lastExchange: this.#lastExchange.get(integration)
    }
  }

  #mint (integration: string): Promise<CachedToken> {
    let pending = this.#inflight.get(integration)
    if (pending) return pending
    pending = this.#mintOnce(integration).finally(() => this.#inflight.delete(integration))
    this.#inflight.set(integration, pending)
    return pending
  }

  async #mintOnce (integration: string): Promise<CachedToken> {
    const clock = this.#options.clock
    const failure = this.#failures.get(integration)
    if (failure && clock.now() < failure.until) {
      throw withRetryAfter(failure.error, (failure.until - clock.now()) / 1000)
    }
    const secret = await this.#options.credentials.current(integration)
    try {
      const token = await this.exchangeWith(integration, secret)
      this.#failures.delete(integration)
      this.#tokens.set(integration, token)
      return token
    } catch (error) {
      this.#rememberFailure(integration, error as Error)
      throw error
    }
  }

  /** One exchange with a given secret version; also used by rotation to verify a credential before storing it. */
  async exchangeWith (integration: string, secret: Pick<StoredSecret, 'data' | 'version'>): Promise<CachedToken> {
    const clientId = secret.data.client_id
    const clientSecret = secret.data.client_secret
    if (clientId === undefined || clientSecret === undefined) {
      throw new CredentialInvalidError('an oauth integration needs client_id and client_secret')
    }
    const startedAt = this.#options.clock.now()
    let exchanged: ExchangedToken
    try {
      exchanged = await this.#exchange({ tokenUrl: this.#options.tokenUrl, clientId, clientSecret, timeoutMs: this.#options.timeoutMs })
    } catch (error) {
      const outcome: ExchangeOutcome = error instanceof CredentialRejectedError ? 'rejected' : (error as { statusCode?: number }).statusCode === 503 ? 'unavailable' : 'error'
      this.#recordExchange(integration, outcome)
      throw error
    }
    this.#recordExchange(integration, 'ok')
    if (exchanged.anomaly) this.#options.logger.warn({ integration, anomaly: exchanged.anomaly }, 'unusual token endpoint answer')
    const lifetimeMs = exchanged.expiresIn * 1000
    const expiresAt = startedAt + lifetimeMs
    const safetyMs = Math.min(SAFETY_MS, lifetimeMs / 10)
    const refreshAheadMs = Math.min(this.#options.refreshMarginSeconds * 1000, lifetimeMs / 4)
    return {
      authorization: `Bearer ${exchanged.accessToken}`,
      secretVersion: secret.version,
      expiresAt,
      usableUntil: expiresAt - safetyMs,
      refreshAt: expiresAt - Math.max(safetyMs, refreshAheadMs)
    }
  }

  #recordExchange (integration: string, outcome: ExchangeOutcome): void {
    this.#lastExchange.set(integration, { at: new Date(this.#options.clock.now()).toISOString(), outcome })
    this.#options.onExchange?.(integration, outcome)
  }

  #rememberFailure (integration: string, error: Error): void {
    const rejected = error instanceof CredentialRejectedError
    const tokenEndpointDown = (error as { code?: string }).code === 'BROKER_ERR_TOKEN_ENDPOINT_UNAVAILABLE'
    if (!rejected && !tokenEndpointDown) return
    const policy = rejected ? BACKOFF.rejected : BACKOFF.unavailable
    const count = (this.#failures.get(integration)?.count ?? 0) + 1
    const delayMs = Math.min(policy.maxMs, policy.baseMs * 2 ** (count - 1))
    this.#failures.set(integration, { error, until: this.#options.clock.now() + delayMs, count })
    this.#options.logger.error({ integration, code: (error as { code?: string }).code, cause: (error.cause as Error | undefined)?.message, retryInSeconds: delayMs / 1000 },
      rejected ? 'Atlassian rejected the credential; check or rotate it' : 'token endpoint unavailable')
  }

  #apiTokenGrant (secret: StoredSecret): AccessGrant {
    const token = secret.data.token
    if (token === undefined) throw new CredentialInvalidError('an api-token integration needs token')
    const email = secret.data.email
    const authorization = email !== undefined
      ? `Basic ${Buffer.from(`${email}:${token}`).toString('base64')}`
      : `Bearer ${token}`
    return { authorization, secretVersion: secret.version, expiresAt: undefined }
  }
}
