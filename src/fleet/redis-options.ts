/**
 * The one place Redis clients are built, for the sidecar's long-lived link (redis-link.ts) and the CLI's one-shot
 * announcement (announce.ts): one Redis (`url`), Redis Cluster (`cluster.nodes`, ioredis's Cluster) or Redis Sentinel
 * (`sentinel`, the primary found and followed through the sentinels, which may have a user and password of their
 * own), each with the same ACL user, password (or passwordFile) and TLS settings (a private CA's `caFile`,
 * `serverName`; sentinels get the same TLS). Also the one description of why a connection failed, in words safe
 * to print: never the password, never a token.
 */
import { readFileSync } from 'node:fs'
import { Cluster, Redis, type RedisOptions } from 'ioredis'
import type { FleetConfig } from '../config/schema.js'

export type RedisConfig = FleetConfig['redis']
/** What the fleet's code talks to: the commands are the same on one Redis and on a cluster. */
export type RedisClient = Redis | Cluster

const MAX_RECONNECT_DELAY_MS = 2_000

/**
 * `link`: reconnects forever (never faster than every 100 ms nor slower than every 2 s); `once`: one attempt, no
 * retry, for a command line that must answer now. A `passwordFile` is read here, at each build (trailing newline
 * dropped), so no caller can connect without it.
 */
export function redisOptions (config: RedisConfig, use: 'link' | 'once'): RedisOptions {
  const tls = usesTls(config)
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
      ? { maxRetriesPerRequest: 1, retryStrategy: reconnectDelay }
      : {
          maxRetriesPerRequest: 0,
          retryStrategy: () => null,
          commandTimeout: commandTimeoutBackstopMs(config)
        }),
    ...(config.username === undefined ? {} : { username: config.username }),
    ...secret(config, 'password'),
    ...(tls === undefined ? {} : { tls })
  }
}

/**
 * A client for the configured topology; `overrides` are the caller's own (offline queue, timeouts). A cluster
 * client follows MOVED answers and failovers by itself; a sentinel client asks the sentinels for the primary on
 * every (re)connection and also listens for their +switch-master.
 */
export function createRedisClient (config: RedisConfig, use: 'link' | 'once', overrides: RedisOptions = {}): RedisClient {
  const options = { ...redisOptions(config, use), ...overrides }
  if (config.cluster !== undefined) {
    const { retryStrategy, enableOfflineQueue, lazyConnect, enableReadyCheck, ...redisOptions } = options
    return new Cluster(config.cluster.nodes.map(hostAndPort), {
      lazyConnect,
      enableReadyCheck,
      ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
      clusterRetryStrategy: retryStrategy,
      redisOptions,
      // Managed clusters behind TLS certificates name hosts; resolving them to addresses would fail the check.
      ...(redisOptions.tls === undefined ? {} : { dnsLookup: (address, callback) => { callback(null, address) } })
    })
  }
  if (config.sentinel !== undefined) {
    return new Redis({
      ...options,
      sentinels: config.sentinel.nodes.map(hostAndPort),
      name: config.sentinel.masterName,
      ...(config.sentinel.username === undefined ? {} : { sentinelUsername: config.sentinel.username }),
      ...secret(config.sentinel, 'sentinelPassword'),
      failoverDetector: use === 'link',
      ...(options.tls === undefined ? {} : { enableTLSForSentinelMode: true, sentinelTLS: options.tls }),
      ...(use === 'link' ? { sentinelRetryStrategy: reconnectDelay } : { sentinelRetryStrategy: () => null })
    })
  }
  // The schema admits exactly one of url, cluster and sentinel: never an empty URL, which would mean localhost.
  if (config.url === undefined) throw new Error('fleet.redis needs one of url, cluster and sentinel')
  return new Redis(config.url, options)
}

/** A password given inline or as a `passwordFile` (read now, trailing newline dropped), under ioredis's `name`. */
function secret<Name extends string> (
  from: { password?: string | undefined, passwordFile?: string | undefined },
  name: Name
): Partial<Record<Name, string>> {
  if (from.passwordFile !== undefined) {
    return { [name]: readFileSync(from.passwordFile, 'utf8').replace(/\r?\n$/, '') } as Partial<Record<Name, string>>
  }
  return (from.password === undefined ? {} : { [name]: from.password }) as Partial<Record<Name, string>>
}

function usesTls (config: RedisConfig): boolean {
  return config.tls !== undefined || config.url?.startsWith('rediss://') === true ||
    config.cluster?.nodes.some((node) => node.startsWith('rediss://')) === true
}

function reconnectDelay (times: number): number {
  return Math.min(100 * times, MAX_RECONNECT_DELAY_MS)
}

function hostAndPort (address: string): { host: string, port: number } {
  const url = new URL(address.includes('://') ? address : `redis://${address}`)
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port === '' ? 6379 : Number(url.port) }
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
    return 'authentication failed (WRONGPASS/NOAUTH): check fleet.redis (and sentinel) username and password or passwordFile'
  }
  if (/^NOPERM/.test(message)) return 'the ACL user lacks a command (NOPERM): compare it with deploy/redis/users.acl'
  switch (code) {
    case 'ENOENT': case 'EACCES':
      return `a file named in fleet.redis (tls.caFile or passwordFile) could not be read (${code})`
    case 'ECONNREFUSED': return 'connection refused (ECONNREFUSED): is Redis listening at the address in fleet.redis?'
    case 'ENOTFOUND': case 'EAI_AGAIN': return `unknown host (${code}): check the hosts in fleet.redis`
    case 'ETIMEDOUT': return 'timed out (ETIMEDOUT): Redis did not answer within fleet.redis.connectTimeoutMs'
    case 'ECONNRESET': case 'EPIPE':
      return `connection reset (${code}): a TLS port spoken to without TLS, or the other way round? (rediss:// for TLS)`
    default: return code === undefined ? 'connection failed' : `connection failed (${code})`
  }
}
