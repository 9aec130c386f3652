/**
 * The one place Redis connection options are built, for the sidecar's long-lived link (redis-link.ts) and the CLI's
 * one-shot announcement (announce.ts): the same URL, ACL user, password (or passwordFile) and TLS settings (a private
 * CA's `caFile`, `serverName`) reach Redis either way. Also the one description of why a connection failed, in words
 * safe to print: never the password, never a token.
 */
import { readFileSync } from 'node:fs'
import type { RedisOptions } from 'ioredis'
import type { FleetConfig } from '../config/schema.js'

export type RedisConfig = FleetConfig['redis']

const MAX_RECONNECT_DELAY_MS = 2_000

/**
 * `link`: reconnects forever (never faster than every 100 ms nor slower than every 2 s); `once`: one attempt, no
 * retry, for a command line that must answer now. A `passwordFile` is read here, at each build (trailing newline
 * dropped), so no caller can connect without it.
 */
export function redisOptions (config: RedisConfig, use: 'link' | 'once'): RedisOptions {
  const tls = config.url.startsWith('rediss://') || config.tls !== undefined
    ? {
        ...(config.tls?.caFile === undefined ? {} : { ca: readFileSync(config.tls.caFile) }),
        ...(config.tls?.serverName === undefined ? {} : { servername: config.tls.serverName })
      }
    : undefined
  return {
    lazyConnect: true,
    connectTimeout: config.connectTimeoutMs,
    enableReadyCheck: true,
    ...(use === 'link'
      ? { maxRetriesPerRequest: 1, retryStrategy: (times: number) => Math.min(100 * times, MAX_RECONNECT_DELAY_MS) }
      : {
          maxRetriesPerRequest: 0,
          retryStrategy: () => null,
          commandTimeout: commandTimeoutBackstopMs(config)
        }),
    ...(config.username === undefined ? {} : { username: config.username }),
    ...(config.passwordFile !== undefined
      ? { password: readFileSync(config.passwordFile, 'utf8').replace(/\r?\n$/, '') }
      : config.password === undefined ? {} : { password: config.password }),
    ...(tls === undefined ? {} : { tls })
  }
}

/** ioredis's own command timeout, a backstop only: the link applies `commandTimeoutMs` itself, discounting
 * event-loop lag (redis-link.ts). */
export function commandTimeoutBackstopMs (config: RedisConfig): number {
  return Math.max(1_000, config.commandTimeoutMs * 4)
}

const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_|HOSTNAME_MISMATCH|EPROTO$)/

/**
 * Why a connection or command failed, for an operator: the kind (TLS, authentication, refused, unknown host, timed
 * out, permission) and the stable code, never the error's free text (which may echo what was sent).
 */
export function describeRedisFailure (error: unknown): string {
  const code = typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : undefined
  const message = error instanceof Error ? error.message : ''
  if (code !== undefined && TLS_CODES.test(code)) {
    return `TLS failed (${code}): check fleet.redis.tls.caFile and serverName against the server's certificate`
  }
  if (/^(WRONGPASS|NOAUTH)/.test(message) || /invalid password|AUTH failed/i.test(message)) {
    return 'authentication failed (WRONGPASS/NOAUTH): check fleet.redis.username and password or passwordFile'
  }
  if (/^NOPERM/.test(message)) return 'the ACL user lacks a command (NOPERM): compare it with deploy/redis/users.acl'
  switch (code) {
    case 'ENOENT': case 'EACCES':
      return `a file named in fleet.redis (tls.caFile or passwordFile) could not be read (${code})`
    case 'ECONNREFUSED': return 'connection refused (ECONNREFUSED): is Redis listening at fleet.redis.url?'
    case 'ENOTFOUND': case 'EAI_AGAIN': return `unknown host (${code}): check the host in fleet.redis.url`
    case 'ETIMEDOUT': return 'timed out (ETIMEDOUT): Redis did not answer within fleet.redis.connectTimeoutMs'
    case 'ECONNRESET': case 'EPIPE':
      return `connection reset (${code}): a TLS port spoken to without TLS, or the other way round? (rediss:// for TLS)`
    default: return code === undefined ? 'connection failed' : `connection failed (${code})`
  }
}
