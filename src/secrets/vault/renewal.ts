/**
 * Keeping the broker's Vault token alive: renewal ahead of expiry, at 2/3 of the granted TTL minus up to 10 % jitter
 * (Vault's own LifetimeWatcher does the same, hashicorp/vault api/lifetime_watcher.go). Renewals are advisory
 * (docs/concepts/lease.mdx): when one comes back shorter than asked, the max TTL is near, so this logs in again at 2/3
 * of what is left instead of renewing. A failed login is retried with capped exponential backoff. One timer at a
 * time: the next renewal or the next login, whichever was planned last.
 */
import type { Logger } from 'pino'
import type { Clock, TimerHandle } from '../../clock.js'
import type { Grant } from './auth/login-method.js'
import { describeVaultFailure, type VaultClient } from './vault-client.js'

export const RENEW_AT_FRACTION = 2 / 3
export const RENEW_JITTER_FRACTION = 0.1
const LOGIN_RETRY_MIN_MS = 1_000
const LOGIN_RETRY_MAX_MS = 60_000
const RENEW_RETRY_MAX_MS = 30_000
/** A token this close to its expiry counts as expired: a fresh login beats a request racing the deadline. */
export const EXPIRY_MARGIN_MS = 2_000

/** What the renewal needs of the session it keeps alive. */
export interface RenewalOwner {
  readonly client: VaultClient
  /** The session's current token: a renewal answered after a fresh login replaced it is dropped. */
  token (): string | undefined
  /** Obtains a new token and hands its grant to `granted`; rejects when the login fails. */
  authenticate (): Promise<void>
  /** False for a given token, which cannot be replaced by logging in again. */
  readonly canLogInAgain: boolean
}

export class TokenRenewal {
  #owner: RenewalOwner
  #log: Logger
  #clock: Clock
  #random: () => number
  #expiresAt: number | undefined
  #renewable = false
  #extending = true
  #increment = 0
  #renewals = 0
  #timer: TimerHandle | undefined
  #login: Promise<void> | undefined
  #loginFailures = 0
  #background = new Set<Promise<void>>()
  #closed = false

  constructor (owner: RenewalOwner, log: Logger, clock: Clock, random: () => number) {
    this.#owner = owner
    this.#log = log
    this.#clock = clock
    this.#random = random
  }

  /** When the current token expires (ms since the epoch); undefined when it never does. */
  get expiresAt (): number | undefined { return this.#expiresAt }
  get renewable (): boolean { return this.#renewable }
  /** False once renewals stopped extending the TTL (max TTL near): the next step is a fresh login. */
  get extending (): boolean { return this.#extending }
  get renewals (): number { return this.#renewals }

  expired (): boolean {
    return this.#expiresAt !== undefined && this.#clock.now() >= this.#expiresAt - EXPIRY_MARGIN_MS
  }

  /** Vault said the token is dead: it counts as expired from now on. */
  expireNow (): void {
    this.#expiresAt = this.#clock.now()
  }

  /** A login (or the adoption of a given token) granted this: plan its renewal. */
  granted (grant: Grant): void {
    this.#increment = grant.increment
    this.#grant(grant.ttlSeconds, grant.renewable, true)
  }

  /** One login at a time: concurrent callers that found the token dead share it. A failure schedules a retry. */
  relogin (): Promise<void> {
    this.#login ??= this.#owner.authenticate()
      .then(
        () => {
          this.#loginFailures = 0
        },
        (error: unknown) => {
          this.#loginFailures += 1
          const backoff = Math.min(LOGIN_RETRY_MAX_MS, LOGIN_RETRY_MIN_MS * 2 ** (this.#loginFailures - 1))
          this.#schedule(backoff * (1 - this.#random() * RENEW_JITTER_FRACTION), () =>
            this.relogin().catch(() => undefined)
          )
          throw error
        }
      )
      .finally(() => {
        this.#login = undefined
      })
    return this.#login
  }

  /** Resolves once no background renewal or login is in flight (tests pair it with a manual clock). */
  async settled (): Promise<void> {
    while (this.#background.size > 0) await Promise.allSettled([...this.#background])
  }

  async close (): Promise<void> {
    this.#closed = true
    this.#cancelTimer()
    await this.settled()
  }

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
    } else if (this.#owner.canLogInAgain) {
      this.#schedule(delay, () => this.relogin().catch(() => undefined))
    } else {
      this.#cancelTimer()
      this.#log.warn(
        { expiresAt: new Date(this.#expiresAt).toISOString() },
        'the configured Vault token cannot be extended further; replace it before it expires'
      )
    }
  }

  async #renew (): Promise<void> {
    const token = this.#owner.token()
    try {
      const response = (await this.#owner.client.write('auth/token/renew-self', { increment: this.#increment })) as
        { auth?: { lease_duration?: unknown, renewable?: unknown }, warnings?: unknown } | undefined
      if (this.#closed || token !== this.#owner.token()) return
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
      if (this.#closed || token !== this.#owner.token()) return
      const failure = describeVaultFailure(error)
      if (failure.status !== undefined && failure.status >= 400 && failure.status < 500) {
        // 403: revoked or expired; 400: "lease is not renewable" or "past the max TTL, cannot renew".
        this.#log.warn(
          { status: failure.status, vaultErrors: failure.vaultErrors },
          "Vault refused to renew the broker's token"
        )
        this.#expiresAt = this.#clock.now()
        if (this.#owner.canLogInAgain) await this.relogin().catch(() => undefined)
        return
      }
      const remaining = (this.#expiresAt ?? this.#clock.now()) - this.#clock.now()
      this.#log.warn(
        { reason: failure.message, remainingSeconds: Math.floor(remaining / 1000) },
        'could not renew the Vault token; will retry'
      )
      if (remaining > EXPIRY_MARGIN_MS) this.#schedule(Math.min(remaining / 3, RENEW_RETRY_MAX_MS), () => this.#renew())
      else if (this.#owner.canLogInAgain) {
        this.#schedule(LOGIN_RETRY_MIN_MS, () => this.relogin().catch(() => undefined))
      }
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
