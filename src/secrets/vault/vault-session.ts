/**
 * The broker's connection to Vault: one node-vault client and the life of the broker's own Vault token.
 *
 * - Login by AppRole (secret id re-read from its file at each login), Kubernetes (projected service-account token
 *   re-read at each login) or a given token (looked up, renewed while renewable).
 * - Renewal ahead of expiry, at 2/3 of the granted TTL minus up to 10 % jitter (Vault's own LifetimeWatcher does the
 *   same, hashicorp/vault api/lifetime_watcher.go). Renewals are advisory (docs/concepts/lease.mdx): when one comes
 *   back shorter than asked, the max TTL is near, so the session logs in again at 2/3 of what is left instead of
 *   renewing.
 * - A 403 on a call: Vault 1.15 says only "permission denied" for a dead token and for a policy gap alike, so one
 *   `GET auth/token/lookup-self` tells them apart (newer servers add "invalid token", which skips the lookup). A dead
 *   token gets one fresh login and one retry; a live token means a policy gap: SecretStoreDeniedError, logged with the
 *   path, never looped on.
 * - Every failure leaves here without the original node-vault/axios error, which embeds the request (the X-Vault-Token
 *   header, the login body with the secret id or JWT): only the status, Vault's `errors` texts or a socket error code.
 */
import { readFile } from 'node:fs/promises'
import type { Logger } from 'pino'
import { systemClock, type Clock, type TimerHandle } from '../../clock.js'
import type { VaultConfig } from '../../config/schema.js'
import { isBrokerError, SecretStoreDeniedError, SecretStoreUnavailableError, withRetryAfter } from '../../errors.js'
import { createClient, describeVaultFailure, VaultCallError, type Agents, type VaultClient } from './vault-client.js'

export { describeVaultFailure, VaultCallError, type VaultClient } from './vault-client.js'

export const RENEW_AT_FRACTION = 2 / 3
export const RENEW_JITTER_FRACTION = 0.1
export const RETRY_AFTER_SEALED_SECONDS = 30
export const RETRY_AFTER_UNAVAILABLE_SECONDS = 5
const LOGIN_RETRY_MIN_MS = 1_000
const LOGIN_RETRY_MAX_MS = 60_000
const RENEW_RETRY_MAX_MS = 30_000
/** A token this close to its expiry counts as expired: a fresh login beats a request racing the deadline. */
const EXPIRY_MARGIN_MS = 2_000

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

interface Grant {
  token: string
  ttlSeconds: number
  renewable: boolean
  /** What to ask for at each renewal. */ increment: number
}

class Session implements VaultSession {
  readonly client: VaultClient
  #config: VaultConfig
  #log: Logger
  #clock: Clock
  #random: () => number
  #agents: Agents
  #token: string | undefined
  #expiresAt: number | undefined
  #renewable = false
  #extending = true
  #increment = 0
  #timer: TimerHandle | undefined
  #login: Promise<void> | undefined
  #loginFailures = 0
  #background = new Set<Promise<void>>()
  #closed = false
  #unavailable = false
  #logins = 0
  #renewals = 0

  constructor (options: VaultSessionOptions, created: { client: VaultClient, agents: Agents }) {
    this.client = created.client
    this.#agents = created.agents
    this.#config = options.config
    this.#log = options.logger.child({ component: 'vault' })
    this.#clock = options.clock ?? systemClock
    this.#random = options.random ?? Math.random
  }

  async start (): Promise<void> {
    await this.#authenticate()
  }

  state (): VaultTokenState {
    return {
      method: this.#config.auth.method,
      authenticated: this.#token !== undefined && !this.#expired(),
      expiresAt: this.#expiresAt,
      renewable: this.#renewable,
      extending: this.#extending,
      logins: this.#logins,
      renewals: this.#renewals
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
    while (this.#background.size > 0) await Promise.allSettled([...this.#background])
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#cancelTimer()
    await this.settled()
    this.#agents.http.destroy()
    this.#agents.https.destroy()
  }

  // ---- calls ----------------------------------------------------------------------------------------------------

  #expired (): boolean {
    return this.#expiresAt !== undefined && this.#clock.now() >= this.#expiresAt - EXPIRY_MARGIN_MS
  }

  async #ready (): Promise<void> {
    if (this.#closed) throw withRetryAfter(new SecretStoreUnavailableError(), RETRY_AFTER_UNAVAILABLE_SECONDS)
    if (this.#token !== undefined && !this.#expired()) return
    if (this.#config.auth.method === 'token') {
      this.#log.debug('the configured Vault token has expired')
      throw new SecretStoreDeniedError()
    }
    await this.#relogin()
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
    this.#expiresAt = this.#clock.now()
    if (this.#config.auth.method === 'token') {
      this.#log.error({ operation, path }, 'the configured Vault token is revoked or expired; configure a new one')
      throw new SecretStoreDeniedError({ cause: failure })
    }
    this.#log.warn(
      { operation, path },
      "the broker's Vault token is no longer valid (revoked or expired); logging in again"
    )
    await this.#relogin()
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

  /** One login at a time: concurrent callers that found the token dead share it. A failure schedules a retry. */
  #relogin (): Promise<void> {
    this.#login ??= this.#authenticate()
      .then(
        () => {
          this.#loginFailures = 0
        },
        (error: unknown) => {
          this.#loginFailures += 1
          const backoff = Math.min(LOGIN_RETRY_MAX_MS, LOGIN_RETRY_MIN_MS * 2 ** (this.#loginFailures - 1))
          this.#schedule(backoff * (1 - this.#random() * RENEW_JITTER_FRACTION), () =>
            this.#relogin().catch(() => undefined)
          )
          throw error
        }
      )
      .finally(() => {
        this.#login = undefined
      })
    return this.#login
  }

  async #authenticate (): Promise<void> {
    const auth = this.#config.auth
    let grant: Grant
    try {
      grant = auth.method === 'token' ? await this.#lookupGivenToken(auth.token) : await this.#loginWith(auth)
    } catch (error) {
      throw this.#loginError(error)
    }
    if (this.#closed) return
    this.#token = grant.token
    this.client.token = grant.token
    this.#increment = grant.increment
    if (auth.method !== 'token') this.#logins += 1
    this.#log.info(
      { method: auth.method, ttlSeconds: grant.ttlSeconds, renewable: grant.renewable },
      auth.method === 'token' ? 'using the configured Vault token' : 'logged in to Vault'
    )
    this.#grant(grant.ttlSeconds, grant.renewable, true)
  }

  async #loginWith (auth: Exclude<VaultConfig['auth'], { method: 'token' }>): Promise<Grant> {
    const body =
      auth.method === 'approle'
        ? {
            role_id: auth.roleId,
            secret_id:
              auth.secretId ?? (await this.#readCredentialFile(auth.secretIdFile ?? '', 'vault.auth.secretIdFile'))
          }
        : { role: auth.role, jwt: await this.#readCredentialFile(auth.jwtPath, 'vault.auth.jwtPath') }
    // Written out rather than node-vault's kubernetesLogin(), which posts to auth//login without a mount_point (issue
    // #300).
    const response = (await this.client.write(`auth/${auth.mountPath}/login`, body)) as
      { auth?: { client_token?: unknown, lease_duration?: unknown, renewable?: unknown } } | undefined
    const token = response?.auth?.client_token
    if (typeof token !== 'string' || token === '') { throw new VaultCallError({ status: 200, vaultErrors: ['the login answer carried no client token'] }) }
    const ttlSeconds = Number(response?.auth?.lease_duration ?? 0)
    return { token, ttlSeconds, renewable: response?.auth?.renewable === true, increment: ttlSeconds }
  }

  async #lookupGivenToken (token: string): Promise<Grant> {
    this.client.token = token
    const response = (await this.client.read('auth/token/lookup-self')) as
      { data?: { ttl?: unknown, creation_ttl?: unknown, renewable?: unknown } } | undefined
    const ttlSeconds = Number(response?.data?.ttl ?? 0)
    return {
      token,
      ttlSeconds,
      renewable: response?.data?.renewable === true,
      increment: Number(response?.data?.creation_ttl ?? ttlSeconds)
    }
  }

  async #readCredentialFile (file: string, setting: string): Promise<string> {
    let text: string
    try {
      text = (await readFile(file, 'utf8')).trim()
    } catch (error) {
      this.#log.error(
        { setting, file, code: (error as NodeJS.ErrnoException).code },
        'cannot read the Vault login credential file'
      )
      throw withRetryAfter(new SecretStoreUnavailableError(), RETRY_AFTER_UNAVAILABLE_SECONDS)
    }
    if (text === '') {
      this.#log.error({ setting, file }, 'the Vault login credential file is empty')
      throw withRetryAfter(new SecretStoreUnavailableError(), RETRY_AFTER_UNAVAILABLE_SECONDS)
    }
    return text
  }

  #loginError (error: unknown): Error {
    if (!(error instanceof VaultCallError) && isBrokerError(error)) return error
    const failure = describeVaultFailure(error)
    const auth = this.#config.auth
    const where = auth.method === 'token' ? 'auth/token/lookup-self' : `auth/${auth.mountPath}/login`
    const translated = this.translate(failure, 'login', where)
    if (translated !== failure) return translated
    const hint = {
      approle: 'check vault.auth.roleId and the secret id',
      kubernetes: 'check vault.auth.role and that the role binds this service account, namespace and audience',
      token: 'the configured token is invalid, expired or revoked'
    }[auth.method]
    this.#log.error(
      { method: auth.method, path: where, status: failure.status, vaultErrors: failure.vaultErrors },
      `Vault refused the broker's login: ${hint}`
    )
    return new SecretStoreDeniedError({ cause: failure })
  }

  // ---- renewal --------------------------------------------------------------------------------------------------

  /** Records a granted TTL and plans the next step: renew while the TTL extends, else log in again before it runs out.
   */
  #grant (ttlSeconds: number, renewable: boolean, extending: boolean): void {
    this.#renewable = renewable
    this.#extending = extending
    if (ttlSeconds <= 0) {
      this.#expiresAt = undefined
      this.#cancelTimer()
      return
    }
    const lifetimeMs = ttlSeconds * 1000
    this.#expiresAt = this.#clock.now() + lifetimeMs
    const delay = lifetimeMs * RENEW_AT_FRACTION - this.#random() * lifetimeMs * RENEW_JITTER_FRACTION
    if (renewable && extending) {
      this.#schedule(delay, () => this.#renew())
    } else if (this.#config.auth.method !== 'token') {
      this.#schedule(delay, () => this.#relogin().catch(() => undefined))
    } else {
      this.#cancelTimer()
      this.#log.warn(
        { expiresAt: new Date(this.#expiresAt).toISOString() },
        'the configured Vault token cannot be extended further; replace it before it expires'
      )
    }
  }

  async #renew (): Promise<void> {
    const token = this.#token
    try {
      const response = (await this.client.write('auth/token/renew-self', { increment: this.#increment })) as
        { auth?: { lease_duration?: unknown, renewable?: unknown }, warnings?: unknown } | undefined
      if (this.#closed || token !== this.#token) return
      this.#renewals += 1
      const ttl = Number(response?.auth?.lease_duration ?? 0)
      const warnings = Array.isArray(response?.warnings)
        ? response.warnings.filter((text): text is string => typeof text === 'string')
        : []
      const capped = ttl < this.#increment || warnings.some((text) => text.includes('max_ttl'))
      if (capped) {
        this.#log.info(
          { ttlSeconds: ttl, warnings },
          'the Vault token reached its max TTL; logging in again before it expires'
        )
      } else this.#log.debug({ ttlSeconds: ttl }, 'renewed the Vault token')
      this.#grant(ttl, response?.auth?.renewable !== false, !capped)
    } catch (error) {
      if (this.#closed || token !== this.#token) return
      const failure = describeVaultFailure(error)
      if (failure.status !== undefined && failure.status >= 400 && failure.status < 500) {
        // 403: revoked or expired; 400: "lease is not renewable" or "past the max TTL, cannot renew".
        this.#log.warn(
          { status: failure.status, vaultErrors: failure.vaultErrors },
          "Vault refused to renew the broker's token"
        )
        this.#expiresAt = this.#clock.now()
        if (this.#config.auth.method !== 'token') await this.#relogin().catch(() => undefined)
        return
      }
      const remaining = (this.#expiresAt ?? this.#clock.now()) - this.#clock.now()
      this.#log.warn(
        { reason: failure.message, remainingSeconds: Math.floor(remaining / 1000) },
        'could not renew the Vault token; will retry'
      )
      if (remaining > EXPIRY_MARGIN_MS) this.#schedule(Math.min(remaining / 3, RENEW_RETRY_MAX_MS), () => this.#renew())
      else if (this.#config.auth.method !== 'token') { this.#schedule(LOGIN_RETRY_MIN_MS, () => this.#relogin().catch(() => undefined)) }
    }
  }

  #schedule (delayMs: number, task: () => Promise<void>): void {
    this.#cancelTimer()
    if (this.#closed) return
    this.#timer = this.#clock.setTimer(
      () => {
        this.#timer = undefined
        const running = task().finally(() => {
          this.#background.delete(running)
        })
        this.#background.add(running)
      },
      Math.max(0, delayMs)
    )
  }

  #cancelTimer (): void {
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer)
    this.#timer = undefined
  }
}
