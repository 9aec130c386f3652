/**
 * For the command line: after `secrets rotate|rollback` wrote a new version, tell a running fleet at once (instead
 * of within its revalidation interval): drop the old version's shared token and publish the change. One short-lived
 * connection, built by the same options builder as the sidecars' (redis-options.ts: ACL user, password, TLS with a
 * private CA); if Redis cannot be reached the rotation still stands and the sidecars find it by revalidation.
 */
import type { FleetConfig } from '../config/schema.js'
import { encodeEvent } from './fleet-events.js'
import { FleetKeys } from './keys.js'
import { createRedisClient, describeRedisFailure, type RedisClient } from './redis-options.js'

/**
 * True when the fleet was told. False when not; `onFailure` then hears why (TLS, authentication, refused, ...) in
 * words safe to print: no password, no token. Never throws.
 */
export async function announceCredentialChange (
  fleet: FleetConfig,
  change: { integration: string, oldVersion: number | undefined, newVersion: number },
  origin: string,
  onFailure?: (cause: string) => void
): Promise<boolean> {
  let redis: RedisClient | undefined
  // ioredis reports the connection's own failure (a TLS verdict, ECONNREFUSED) as an event; connect() then rejects
  // with only "Connection is closed", so the first event is the cause worth naming.
  let failure: unknown
  try {
    const config = fleet.redis
    const keys = new FleetKeys(config.keyPrefix)
    redis = createRedisClient(config, 'once')
    redis.on('error', (error: unknown) => { failure ??= error })
    await redis.connect()
    if (change.oldVersion !== undefined) await redis.del(keys.token(change.integration, change.oldVersion))
    await redis.publish(
      keys.events,
      encodeEvent({ type: 'credential', integration: change.integration, version: change.newVersion }, origin)
    )
    return true
  } catch (error) {
    onFailure?.(failure === undefined ? describeRedisFailure(error) : describeRedisFailure(failure))
    return false
  } finally {
    redis?.disconnect()
  }
}
