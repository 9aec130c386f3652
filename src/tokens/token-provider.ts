/**
 * Gives the forwarder an Authorization header for an integration.
 * OAuth integrations: access tokens from the client-credentials exchange, cached (lru-cache) until shortly before
 * `expires_in` runs out and refreshed ahead of expiry while traffic continues; concurrent misses share one exchange
 * (single-flight); failures are remembered briefly with backoff so a bad credential is not hammered.
 * API-token integrations: the stored scoped token as Bearer, or Basic `email:token` when an email is stored.
 * Rotation overlap: a token minted from an older version stays in use until it expires or Atlassian refuses it. When
 * the current version is rejected at the token endpoint, the store is checked for a newer version first, then version
 * N-1 is tried once; if that works it stays in use (logged at error level, shown as `fallbackFrom`) until the store's
 * current version changes or an operator drops the token.
 */
import { LRUCache } from 'lru-cache'
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import { integrationNamed } from '../config/integration-lookup.js'
import type { IntegrationConfig } from '../config/schema.js'
import { CredentialInvalidError, CredentialRejectedError, errorCode } from '../errors.js'
import type { CredentialSource } from '../secrets/credential-source.js'
import type { StoredSecret } from '../secrets/secret-store.js'
import { exchangeClientCredentials, type ExchangedToken, type ExchangeRequest } from '../atlassian/token-endpoint.js'
import { apiTokenAuthorization } from '../atlassian/api-token.js'
import { ExchangeBackoff } from './exchange-backoff.js'
import { ScopeRefusals } from './scope-refusals.js'
import type { AccessGrant, ExchangeOutcome, MintedToken, SharedTokenCache, TokenState } from './grant.js'

export type { AccessGrant, ExchangeOutcome, MintedToken, SharedTokenCache, TokenState } from './grant.js'

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
  /** Usage hook: one call per scope-refusal 401 answered without a token refresh (scope-refusals.ts). */
  onRefreshSuppressed?: (integration: string) => void
  /** Fleet mode (src/fleet/): one token per credential version for all sidecars. */
  shared?: SharedTokenCache
}

type CachedToken = MintedToken

/** Atlassian rejected version `from`; `secret` (version from - 1) is used instead while `from` stays current. */
interface Fallback { from: number, secret: StoredSecret }

const SAFETY_MS = 60_000

export class TokenProvider {
  readonly #options: TokenProviderOptions
  readonly #exchange: (input: ExchangeRequest) => Promise<ExchangedToken>
  readonly #tokens: LRUCache<string, CachedToken>
  readonly #inflight = new Map<string, Promise<CachedToken>>()
  readonly #failures: ExchangeBackoff
  readonly #scopeRefusals: ScopeRefusals
  readonly #lastExchange = new Map<string, TokenState['lastExchange']>()
  readonly #fallbacks = new Map<string, Fallback>()
  /** API-token integrations whose token Atlassian just answered 401 to: the next grant revalidates against the store.
   */
  readonly #revalidateNext = new Set<string>()

  constructor (options: TokenProviderOptions) {
    this.#options = options
    this.#exchange = options.exchange ?? exchangeClientCredentials
    this.#tokens = new LRUCache({ max: Math.max(100, Object.keys(options.integrations).length * 2) })
    this.#failures = new ExchangeBackoff(options.clock, options.logger)
    this.#scopeRefusals = new ScopeRefusals(options.clock, options.logger, options.onRefreshSuppressed)
    // A new credential deserves an immediate try, whatever the backoff said about the old one.
    options.credentials.onChange(({ integration, version }) => {
      this.#failures.forget(integration)
      this.#scopeRefusals.forget(integration)
      if (this.#fallbacks.get(integration)?.from !== version) this.#fallbacks.delete(integration)
    })
  }

  async grantFor (integration: string): Promise<AccessGrant> {
    const config = integrationNamed(this.#options.integrations, integration)
    if (!config) throw new Error(`unknown integration ${integration}`)
    if (config.credential === 'api-token') {
      const revalidate = this.#revalidateNext.delete(integration)
      return this.#apiTokenGrant(await this.#options.credentials.current(integration, { revalidate }))
    }

    const now = this.#options.clock.now()
    const cached = this.#tokens.get(integration)
    if (cached && now < cached.usableUntil) {
      this.#options.onCacheLookup?.(integration, true)
      if (now >= cached.refreshAt && !this.#inflight.has(integration)) {
        this.#mint(integration).catch((error: Error) => {
          this.#options.logger.warn(
            { integration, code: errorCode(error) },
            'refresh ahead of expiry failed; the current token stays in use'
          )
        })
      }
      return cached
    }
    this.#options.onCacheLookup?.(integration, false)
    return this.#mint(integration)
  }

  /** Called when Atlassian answered 401 to this grant: forget it unless a newer token already replaced it. */
  invalidate (integration: string, grant: AccessGrant): void {
    if (integrationNamed(this.#options.integrations, integration)?.credential === 'api-token') {
      // The stored token may have been rotated elsewhere (CLI, another broker): look before the replay.
      this.#revalidateNext.add(integration)
      return
    }
    const cached = this.#tokens.get(integration)
    if (cached && cached.authorization === grant.authorization) this.#tokens.delete(integration)
  }

  /**
   * Atlassian answered 401 "scope does not match" to this grant: true when it was dropped and a replay with a fresh one
   * is worth a try; false when a new token would be refused the same way (scope-refusals.ts): answer the 401 as it is.
   */
  scopeRefused (integration: string, grant: AccessGrant): boolean {
    if (this.#scopeRefusals.refused(integration, grant) === 'suppress') return false
    this.invalidate(integration, grant)
    return true
  }

  /**
   * Drops the cached token (admin action); the next request mints from the current version, fallback and backoff
   * forgotten. In fleet mode the drop reaches every sidecar, unless it came from the fleet (`fromFleet`).
   */
  drop (integration: string, options: { fromFleet?: boolean } = {}): boolean {
    const versions = [
      this.#tokens.peek(integration)?.secretVersion,
      this.#options.credentials.cachedVersion(integration)
    ].filter((version): version is number => version !== undefined)
    this.#fallbacks.delete(integration)
    this.#failures.forget(integration)
    this.#scopeRefusals.forget(integration)
    if (options.fromFleet !== true) this.#options.shared?.dropped(integration, versions)
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
      lastExchange: this.#lastExchange.get(integration),
      fallbackFrom: this.#fallbacks.get(integration)?.from,
      scopeRefusalUntil: this.#scopeRefusals.cooldownUntil(integration)
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
    this.#failures.check(integration)
    const current = await this.#options.credentials.current(integration)
    const fallback = this.#fallbacks.get(integration)
    const secret = fallback !== undefined && fallback.from === current.version ? fallback.secret : current
    let token: CachedToken
    try {
      const mint = (): Promise<CachedToken> => this.#exchangeWith(integration, secret)
      const shared = this.#options.shared
      // A fallback to an older version stays this sidecar's own decision: only the current version is shared.
      token =
        shared !== undefined && secret === current ? await shared.obtain(integration, secret, mint) : await mint()
    } catch (error) {
      const recovered =
        error instanceof CredentialRejectedError ? await this.#recover(integration, secret, current) : undefined
      if (recovered === undefined) {
        this.#failures.remember(integration, error as Error)
        throw error
      }
      token = recovered
    }
    this.#failures.forget(integration)
    this.#tokens.set(integration, token)
    this.#scopeRefusals.obtained(token)
    return token
  }

  /** After `rejected` was refused: a newer version from the store, else version N-1 once. Undefined when neither works.
   */
  async #recover (
    integration: string,
    rejected: StoredSecret,
    current: StoredSecret
  ): Promise<CachedToken | undefined> {
    const logger = this.#options.logger
    if (rejected !== current) {
      this.#fallbacks.delete(integration)
      logger.error(
        { integration, rejectedVersion: current.version, fallbackVersion: rejected.version },
        `version ${rejected.version} of ${integration} was rejected by Atlassian too; no fallback left`
      )
      return undefined
    }
    const latest = await this.#options.credentials.current(integration, { revalidate: true }).catch(() => undefined)
    if (latest !== undefined && latest.version > rejected.version) {
      logger.info(
        { integration, rejectedVersion: rejected.version, version: latest.version },
        'the cached credential was rejected; a newer version is in the store, trying it'
      )
      return await this.#exchangeWith(integration, latest).catch(() => undefined)
    }
    const previous =
      rejected.version > 1
        ? await this.#options.credentials.version(integration, rejected.version - 1).catch(() => undefined)
        : undefined
    if (previous === undefined) return undefined
    let token: CachedToken
    try {
      token = await this.#exchangeWith(integration, previous)
    } catch {
      return undefined
    }
    this.#fallbacks.set(integration, { from: rejected.version, secret: previous })
    logger.error(
      { integration, rejectedVersion: rejected.version, fallbackVersion: previous.version },
      `falling back to version ${previous.version} of ${integration}: version ${rejected.version} was rejected by Atlassian`
    )
    return token
  }

  /** One exchange with a given secret version (the current one, or the previous one while a rotation settles). */
  async #exchangeWith (integration: string, secret: Pick<StoredSecret, 'data' | 'version'>): Promise<CachedToken> {
    const clientId = secret.data.client_id
    const clientSecret = secret.data.client_secret
    if (clientId === undefined || clientSecret === undefined) {
      throw new CredentialInvalidError('an oauth integration needs client_id and client_secret')
    }
    const startedAt = this.#options.clock.now()
    let exchanged: ExchangedToken
    try {
      exchanged = await this.#exchange({
        tokenUrl: this.#options.tokenUrl,
        clientId,
        clientSecret,
        timeoutMs: this.#options.timeoutMs
      })
    } catch (error) {
      const outcome: ExchangeOutcome =
        error instanceof CredentialRejectedError
          ? 'rejected'
          : (error as { statusCode?: number }).statusCode === 503
              ? 'unavailable'
              : 'error'
      this.#recordExchange(integration, outcome)
      throw error
    }
    this.#recordExchange(integration, 'ok')
    if (exchanged.anomaly) {
      this.#options.logger.warn({ integration, anomaly: exchanged.anomaly }, 'unusual token endpoint answer')
    }
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

  /** One grant per stored secret object: the credential source hands out the same object while it is current. */
  readonly #apiTokenGrants = new WeakMap<StoredSecret, AccessGrant>()

  #apiTokenGrant (secret: StoredSecret): AccessGrant {
    let grant = this.#apiTokenGrants.get(secret)
    if (grant === undefined) {
      grant = {
        authorization: apiTokenAuthorization(secret.data),
        secretVersion: secret.version,
        expiresAt: undefined
      }
      this.#apiTokenGrants.set(secret, grant)
    }
    return grant
  }
}
