/**
 * The broker's connection to Vault: one node-vault client, the broker's own Vault token, and every call made with it.
 *
 * - The token comes from a login method (auth/: AppRole, Kubernetes, or a given token) and is kept alive by its renewal
 *   (renewal.ts: renewal, re-login before the max TTL, login retries).
 * - A 403 on a call: Vault 1.15 says only "permission denied" for a dead token and for a policy gap alike, so one
 *   `GET auth/token/lookup-self` tells them apart (newer servers add "invalid token", which skips the lookup). A dead
 *   token gets one fresh login and one retry; a live token means a policy gap: SecretStoreDeniedError, logged with the
 *   path, never looped on.
 * - Every failure leaves here without the original node-vault/axios error, which embeds the request (the X-Vault-Token
 *   header, the login body with the secret id or JWT): only the status, Vault's `errors` texts or a socket error code.
 */
import type { Logger } from 'pino'
import { systemClock, type Clock } from '../../clock.js'
import type { VaultConfig } from '../../config/schema.js'
import { isBrokerError, SecretStoreDeniedError, SecretStoreUnavailableError, withRetryAfter } from '../../errors.js'
import { createLoginMethod } from './auth/create-login-method.js'
import type { Grant, LoginMethod } from './auth/login-method.js'
import { TokenRenewal } from './renewal.js'
import {
  createClient,
  describeVaultFailure,
  RETRY_AFTER_SEALED_SECONDS,
  RETRY_AFTER_UNAVAILABLE_SECONDS,
  VaultCallError,
  type Agents,
  type VaultClient
} from './vault-client.js'

export { describeVaultFailure, VaultCallError, type VaultClient } from './vault-client.js'

export interface VaultTokenState {
  method: VaultConfig['auth']['method']
  authenticated: boolean
  /** When the current token expires (ms since the epoch); undefined when it never does. */
  expiresAt: number | undefined
  renewable: boolean
  /** False once renewals stopped extending the TTL (max TTL near): the next step is a fresh login. */
  extending: boolean
  logins: number
  renewals: number
}

export interface VaultSession {
  readonly client: VaultClient
  /**
   * Runs one Vault call with the broker's token. Unavailability becomes SecretStoreUnavailableError (with Retry-After),
   * a policy gap SecretStoreDeniedError, a dead token one re-login and one retry; any other answer is a VaultCallError
   * for the caller to interpret (404, CAS 400).
   */
  call<T>(operation: string, path: string, request: (client: VaultClient) => Promise<T>): Promise<T>
  /** Turns a failure into the error to throw (for calls made outside `call`, such as health). */
  translate(failure: VaultCallError, operation: string, path: string): Error
  state(): VaultTokenState
  /** Resolves once no background renewal or login is in flight (tests pair it with a manual clock). */
  settled(): Promise<void>
  close(): Promise<void>
}

export interface VaultSessionOptions {
  config: VaultConfig
  logger: Logger
  clock?: Clock
  /** Jitter source in [0, 1); tests pin it. */
  random?: () => number
}

/** Creates the client, logs in (or adopts the given token) and starts the renewal schedule. Throws if the first login
 * fails. */
export async function createVaultSession (options: VaultSessionOptions): Promise<VaultSession> {
  const session = new Session(options, await createClient(options.config))
  try {
    await session.start()
  } catch (error) {
    await session.close()
    throw error
  }
  return session
}

class Session implements VaultSession {
  readonly client: VaultClient
  #config: VaultConfig
  #log: Logger
  #clock: Clock
  #agents: Agents
  #method: LoginMethod
  #renewal: TokenRenewal
  #token: string | undefined
  #closed = false
  #unavailable = false
  #logins = 0

  constructor (options: VaultSessionOptions, created: { client: VaultClient, agents: Agents }) {
    this.client = created.client
    this.#agents = created.agents
    this.#config = options.config
    this.#log = options.logger.child({ component: 'vault' })
    this.#clock = options.clock ?? systemClock
    this.#method = createLoginMethod(options.config.auth, this.#log)
    this.#renewal = new TokenRenewal({
      client: this.client,
      token: () => this.#token,
      authenticate: async () => await this.#authenticate(),
      canLogInAgain: this.#method.canLogInAgain
    }, this.#log, this.#clock, options.random ?? Math.random)
  }

  async start (): Promise<void> {
    await this.#authenticate()
  }

  state (): VaultTokenState {
    return {
      method: this.#method.name,
      authenticated: this.#token !== undefined && !this.#renewal.expired(),
      expiresAt: this.#renewal.expiresAt,
      renewable: this.#renewal.renewable,
      extending: this.#renewal.extending,
      logins: this.#logins,
      renewals: this.#renewal.renewals
    }
  }

  async call<T>(operation: string, path: string, request: (client: VaultClient) => Promise<T>): Promise<T> {
    await this.#ready()
    const token = this.#token
    try {
      return this.#succeeded(await request(this.client))
    } catch (error) {
      const failure = describeVaultFailure(error)
      if (failure.status !== 403) throw this.translate(failure, operation, path)
      if (token === this.#token) await this.#recoverFromDenial(token, failure, operation, path)
    }
    try {
      return this.#succeeded(await request(this.client))
    } catch (error) {
      const failure = describeVaultFailure(error)
      if (failure.status !== 403) throw this.translate(failure, operation, path)
      this.#log.error(
        { operation, path, vaultErrors: failure.vaultErrors },
        "Vault still denies this path after a fresh login: the role's policy lacks this capability"
      )
      throw new SecretStoreDeniedError({ cause: failure })
    }
  }

  translate (failure: VaultCallError, operation: string, path: string): Error {
    if (failure.status === undefined) {
      const reason = failure.timedOut
        ? `no answer within ${this.#config.requestTimeoutMs} ms`
        : `unreachable (${failure.transportCode ?? 'error'})`
      return this.#unavailableError(failure, reason, operation, path, RETRY_AFTER_UNAVAILABLE_SECONDS)
    }
    if (failure.status === 503 && failure.vaultErrors.some((text) => text.includes('Vault is sealed'))) {
      return this.#unavailableError(failure, 'sealed', operation, path, RETRY_AFTER_SEALED_SECONDS)
    }
    if (failure.status === 429 || failure.status >= 500) {
      return this.#unavailableError(
        failure,
        `answered ${failure.status}`,
        operation,
        path,
        RETRY_AFTER_UNAVAILABLE_SECONDS
      )
    }
    return failure
  }

  async settled (): Promise<void> {
    await this.#renewal.settled()
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#renewal.close()
    this.#agents.http.destroy()
    this.#agents.https.destroy()
  }

  // ---- calls ----------------------------------------------------------------------------------------------------

  async #ready (): Promise<void> {
    if (this.#closed) throw withRetryAfter(new SecretStoreUnavailableError(), RETRY_AFTER_UNAVAILABLE_SECONDS)
    if (this.#token !== undefined && !this.#renewal.expired()) return
    if (!this.#method.canLogInAgain) {
      this.#log.debug('the configured Vault token has expired')
      throw new SecretStoreDeniedError()
    }
    await this.#renewal.relogin()
  }

  /** Decides whether a 403 means "our token is dead" (log in again, caller retries once) or "policy gap" (throws). */
  async #recoverFromDenial (
    token: string | undefined,
    failure: VaultCallError,
    operation: string,
    path: string
  ): Promise<void> {
    const dead = failure.vaultErrors.includes('invalid token') || (await this.#tokenIsDead())
    // Another call found the same dead token and has logged in meanwhile: just retry with the new token.
    if (token !== this.#token) return
    if (!dead) {
      this.#log.error(
        { operation, path, vaultErrors: failure.vaultErrors },
        'Vault denied the broker on this path although its token is valid: a policy lacks this capability (see deploy/vault/broker-policy.hcl)'
      )
      throw new SecretStoreDeniedError({ cause: failure })
    }
    this.#renewal.expireNow()
    if (!this.#method.canLogInAgain) {
      this.#log.error({ operation, path }, 'the configured Vault token is revoked or expired; configure a new one')
      throw new SecretStoreDeniedError({ cause: failure })
    }
    this.#log.warn(
      { operation, path },
      "the broker's Vault token is no longer valid (revoked or expired); logging in again"
    )
    await this.#renewal.relogin()
  }

  async #tokenIsDead (): Promise<boolean> {
    try {
      // GET: a non-root token may not POST lookup-self. The answer holds the token itself: it is dropped unread.
      await this.client.read('auth/token/lookup-self')
      return false
    } catch (error) {
      const failure = describeVaultFailure(error)
      if (failure.status === 403) return true
      throw this.translate(failure, 'lookup-self', 'auth/token/lookup-self')
    }
  }

  #succeeded<T>(value: T): T {
    if (this.#unavailable) {
      this.#unavailable = false
      this.#log.info('Vault answers again')
    }
    return value
  }

  #unavailableError (
    failure: VaultCallError,
    reason: string,
    operation: string,
    path: string,
    retryAfter: number
  ): Error {
    // Log the transition, not every failed call of an outage.
    const level = this.#unavailable ? 'debug' : 'warn'
    this.#unavailable = true
    this.#log[level]({ operation, path, reason, status: failure.status }, `Vault is unavailable: ${reason}`)
    return withRetryAfter(new SecretStoreUnavailableError({ cause: failure }), retryAfter)
  }

  // ---- login ----------------------------------------------------------------------------------------------------

  async #authenticate (): Promise<void> {
    const method = this.#method
    let grant: Grant
    try {
      grant = await method.obtain(this.client)
    } catch (error) {
      throw this.#loginError(error)
    }
    if (this.#closed) return
    this.#token = grant.token
    this.client.token = grant.token
    if (method.canLogInAgain) this.#logins += 1
    this.#log.info(
      { method: method.name, ttlSeconds: grant.ttlSeconds, renewable: grant.renewable },
      method.canLogInAgain ? 'logged in to Vault' : 'using the configured Vault token'
    )
    this.#renewal.granted(grant)
  }

  #loginError (error: unknown): Error {
    if (!(error instanceof VaultCallError) && isBrokerError(error)) return error
    const failure = describeVaultFailure(error)
    const method = this.#method
    const translated = this.translate(failure, 'login', method.path)
    if (translated !== failure) return translated
    this.#log.error(
      { method: method.name, path: method.path, status: failure.status, vaultErrors: failure.vaultErrors },
      `Vault refused the broker's login: ${method.refusalHint}`
    )
    return new SecretStoreDeniedError({ cause: failure })
  }
}
