/**
 * For the command line: after `secrets rotate|rollback` wrote a new version, tell a running fleet at once (instead
 * of within its revalidation interval): drop the old version's shared token and publish the change. One short-lived
 * connection; if Redis cannot be reached the rotation still stands and the sidecars find it by revalidation.
 */
import { Redis } from 'ioredis'
import type { FleetConfig } from '../config/schema.js'
import { encodeEvent } from './fleet-events.js'
import { FleetKeys } from './keys.js'
import { withPasswordFile } from './redis-link.js'

export async function announceCredentialChange (
  fleet: FleetConfig,
  change: { integration: string, oldVersion: number | undefined, newVersion: number },
  origin: string
): Promise<boolean> {
  const config = withPasswordFile(fleet.redis)
  const keys = new FleetKeys(config.keyPrefix)
  const redis = new Redis(config.url, {
    lazyConnect: true,
    connectTimeout: config.connectTimeoutMs,
    commandTimeout: Math.max(1_000, config.commandTimeoutMs * 4),
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    ...(config.username === undefined ? {} : { username: config.username }),
    ...(config.password === undefined ? {} : { password: config.password }),
    ...(config.url.startsWith('rediss://')
      ? { tls: { ...(config.tls?.serverName === undefined ? {} : { servername: config.tls.serverName }) } }
      : {})
  })
  redis.on('error', () => {})
  try {
    await redis.connect()
    if (change.oldVersion !== undefined) await redis.del(keys.token(change.integration, change.oldVersion))
    await redis.publish(
      keys.events,
      encodeEvent({ type: 'credential', integration: change.integration, version: change.newVersion }, origin)
    )
    return true
  } catch {
    return false
  } finally {
    redis.disconnect()
  }
}
