/**
 * The fleet's one connection to Redis (ioredis), and its health. Every fleet feature asks through `run()`: a command
 * that fails or outlasts `commandTimeoutMs` returns undefined and the caller falls back to local behaviour, so Redis
 * can only ever make a sidecar less coordinated, never fail a request. After a failure the link is "degraded": calls
 * skip Redis at once (no timeout paid per request) until a background PING succeeds again. Each transition is logged
 * once. A second connection carries pub/sub (a subscribed connection cannot run other commands).
 */
import type { Logger } from 'pino'
import { systemClock, type Clock, type TimerHandle } from '../clock.js'
import type { FleetConfig } from '../config/schema.js'
import { errorCode } from '../errors.js'
import { commandTimeoutBackstopMs, createRedisClient, type RedisClient } from './redis-options.js'

export type LinkListener = () => void

const PROBE_MS = 1_000

export class RedisLink {
  readonly command: RedisClient
  readonly #subscriber: RedisClient
  readonly #logger: Logger
  readonly #timeoutMs: number
  readonly #clock: Clock
  #up = false
  #detail = 'connecting'
  #probe: TimerHandle | undefined
  #closed = false
  readonly #onUp: LinkListener[] = []
  readonly #handlers = new Map<string, (message: string) => void>()
  readonly #refusals = new Set<string>()

  /**
   * `clock` schedules the PING probe. The command deadline measures a network round trip, so it runs on real time
   * like undici's headersTimeout: a test that moves a manual clock by minutes while Redis answers in microseconds
   * would otherwise see every command in flight "time out" (fleet-usage.test.ts did).
   */
  constructor (config: FleetConfig['redis'], logger: Logger, clock: Clock) {
    this.#logger = logger
    this.#clock = clock
    this.#timeoutMs = config.commandTimeoutMs
    // ioredis's own timeout is only a backstop: run() applies the configured one, discounting event-loop lag.
    this.command = createRedisClient(config, 'link', { enableOfflineQueue: false, commandTimeout: commandTimeoutBackstopMs(config) })
    // The subscriber queues its SUBSCRIBE until connected and re-subscribes by itself after a reconnect (on a
    // cluster: on another node when its node fails; PUBLISH reaches every node, see docs/operations.md).
    this.#subscriber = createRedisClient(config, 'link', { enableOfflineQueue: true, autoResubscribe: true })
    for (const client of [this.command, this.#subscriber]) {
      // ioredis errors carry no password; the message is still kept out of logs (it may name the host only).
      client.on('error', (error: Error & { code?: string }) => { this.#down(error.code ?? error.name) })
    }
    this.command.on('ready', () => { this.#markUp() })
    this.command.on('close', () => { this.#down('connection closed') })
    this.#subscriber.on('message', (channel: string, message: string) => { this.#handlers.get(channel)?.(message) })
  }

  /** Connects in the background; the broker starts at once and runs locally until Redis answers. */
  start (): void {
    this.command.connect().catch(() => {})
    this.#subscriber.connect().catch(() => {})
  }

  get connected (): boolean {
    return this.#up
  }

  state (): { connected: boolean, detail: string } {
    return { connected: this.#up, detail: this.#detail }
  }

  /** Runs on every (re)connection: reload what may have been missed while away. */
  onUp (listener: LinkListener): void {
    this.#onUp.push(listener)
  }

  /** One handler per channel; messages from Redis are untrusted input and parsed by the handler. */
  subscribe (channel: string, handler: (message: string) => void): void {
    this.#handlers.set(channel, handler)
    this.#subscriber.subscribe(channel).catch(() => {})
  }

  /** The command's result, or undefined when Redis is down, slow or answered an error. Never throws. */
  async run<T> (command: (redis: RedisClient) => Promise<T>): Promise<T | undefined> {
    if (!this.#up || this.#closed) return undefined
    try {
      return await withDeadline(command(this.command), this.#timeoutMs)
    } catch (error) {
      const code = errorCode(error)
      const message = (error as Error).message ?? ''
      // Wrong type, a refused command or a script error concerns one key or command: the link itself is fine.
      const refusal = /^(WRONGTYPE|ERR|NOSCRIPT|NOPERM)/.exec(message)?.[1]
      if (refusal !== undefined) {
        this.#refused(refusal, /NOPERM|can't run this command/.test(message))
        return undefined
      }
      this.#down(code === 'ETIMEDOUT' ? `command timed out after ${this.#timeoutMs} ms` : code ?? (message.includes('timed out') ? 'command timed out' : 'command failed'))
      return undefined
    }
  }

  /** Logged once per kind: bad data under a key, or an ACL that lacks a command (deploy/redis/users.acl). */
  #refused (kind: string, permission: boolean): void {
    const key = permission ? 'NOPERM' : kind
    if (this.#refusals.has(key)) return
    this.#refusals.add(key)
    this.#logger.warn({ refusal: key }, permission
      ? 'fleet: Redis refused a command (NOPERM): check the ACL user against deploy/redis/users.acl; the feature concerned runs locally'
      : 'fleet: Redis answered an error for a key (wrong type or unexpected data); treated as a miss, the feature concerned runs locally')
  }

  async close (): Promise<void> {
    this.#closed = true
    if (this.#probe !== undefined) this.#clock.clearTimer(this.#probe)
    this.#probe = undefined
    this.command.disconnect()
    this.#subscriber.disconnect()
  }

  #markUp (): void {
    if (this.#up || this.#closed) return
    this.#up = true
    this.#detail = 'connected'
    this.#logger.info('fleet: connected to Redis; sharing tokens, quota holds, limits and usage with the fleet')
    for (const listener of this.#onUp) listener()
  }

  #down (reason: string): void {
    if (this.#closed) return
    if (this.#up) {
      this.#logger.warn({ reason }, 'fleet: Redis unavailable; this sidecar runs on local tokens, holds and limits until it is back')
    }
    this.#up = false
    this.#detail = `degraded: ${reason}`
    this.#scheduleProbe()
  }

  /** A live connection can still be too slow: probe with PING until it answers in time. */
  #scheduleProbe (): void {
    if (this.#probe !== undefined || this.#closed) return
    this.#probe = this.#clock.setTimer(() => {
      this.#probe = undefined
      if (this.command.status !== 'ready') { this.#scheduleProbe(); return }
      withDeadline(this.command.ping(), this.#timeoutMs)
        .then(() => { this.#markUp() }, () => { this.#scheduleProbe() })
    }, PROBE_MS)
  }
}

/**
 * Rejects when `promise` has not settled `ms` after the call. A busy sidecar's event loop may run the timer before
 * it reads a reply that already arrived: the verdict waits for one more turn of the loop (setImmediate runs after
 * the poll phase that reads sockets), so CPU starvation here is not mistaken for a slow Redis.
 */
async function withDeadline<T> (promise: Promise<T>, ms: number): Promise<T> {
  let timer: TimerHandle | undefined
  const expired = new Promise<never>((_resolve, reject) => {
    timer = systemClock.setTimer(() => { setImmediate(() => { reject(Object.assign(new Error(`command timed out after ${ms} ms`), { code: 'ETIMEDOUT' })) }) }, ms)
  })
  try {
    return await Promise.race([promise, expired])
  } finally {
    if (timer !== undefined) systemClock.clearTimer(timer)
  }
}
