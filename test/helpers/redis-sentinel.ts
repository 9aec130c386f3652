/**
 * A primary, its replica and three sentinels (Debian's `redis-server --sentinel`; the `redis-sentinel` package is
 * not needed), quorum two, a primary declared down after four seconds. `killPrimary()` kills the primary the
 * sentinels name and waits until they name the other node. With `password`, the sentinels require it (`requirepass`,
 * and use it with each other); the primary and replica do not.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { RedisServer, serverDir, subscribersOn } from './redis-server.js'
import type { RedisUnderTest, RedisWhere, Topology } from './redis-topology.js'

const MASTER = 'fleet-primary'
const DOWN_AFTER_MS = 4_000
type Teardown = { teardown: (fn: () => Promise<void> | void) => void }

export class RedisSentinel implements RedisUnderTest {
  private constructor (
    readonly primary: RedisServer,
    readonly replica: RedisServer,
    readonly sentinels: RedisServer[],
    readonly password?: string
  ) {}

  static async start (t: Teardown, options: { password?: string } = {}): Promise<RedisSentinel> {
    const dir = serverDir(t, 'redis-sentinel-')
    const primary = await RedisServer.start(t)
    const replica = await RedisServer.start(t, { args: ['--replicaof', '127.0.0.1', String(primary.port)] })
    const sentinels: RedisServer[] = []
    for (let index = 0; index < 3; index++) {
      const config = join(dir, `sentinel-${index}.conf`)
      writeFileSync(config, [
        `sentinel monitor ${MASTER} 127.0.0.1 ${primary.port} 2`,
        // Not 1 s: a loaded machine can starve the primary that long, and the sentinels then fail over before the
        // test kills anything (the sidecars meet a read-only ex-primary: a second exchange, a lost subscription).
        `sentinel down-after-milliseconds ${MASTER} ${DOWN_AFTER_MS}`,
        `sentinel failover-timeout ${MASTER} 5000`,
        ...(options.password === undefined ? [] : [`requirepass ${options.password}`, `sentinel sentinel-pass ${options.password}`]),
        ''
      ].join('\n'))
      sentinels.push(await RedisServer.start(t, { sentinelConfig: config }))
    }
    const setup = new RedisSentinel(primary, replica, sentinels, options.password)
    // The replica in sync and known to every sentinel, or a failover would have nothing to promote.
    await setup.#until(async (sentinel) => {
      const replicas = await sentinel.call('SENTINEL', 'REPLICAS', MASTER) as string[][]
      return replicas.some((fields) => fields.join(' ').includes(`${replica.port}`) && !fields.join(' ').includes('s_down'))
    })
    return setup
  }

  /** As a topology: a fresh primary, replica and sentinels for each test. */
  static topology (): Topology {
    return { name: 'sentinel', fresh: async (t) => await RedisSentinel.start(t) }
  }

  where (): RedisWhere {
    const nodes = this.sentinels.map((sentinel) => `127.0.0.1:${sentinel.port}`)
    const auth = this.password === undefined ? {} : { password: this.password }
    return { sentinel: { nodes, masterName: MASTER, ...auth } }
  }

  client (): Redis {
    const sentinels = this.sentinels.map((sentinel) => ({ host: '127.0.0.1', port: sentinel.port }))
    const auth = this.password === undefined ? {} : { sentinelPassword: this.password }
    const client = new Redis({ sentinels, name: MASTER, ...auth })
    client.on('error', () => {})
    return client
  }

  async keys (pattern: string): Promise<string[]> {
    const client = this.client()
    try { return await client.keys(pattern) } finally { client.disconnect() }
  }

  /** Subscribers on the primary the sentinels name now. */
  async subscribers (channel: string): Promise<number> {
    return await subscribersOn(this.client(), channel)
  }

  /** Kills the primary the sentinels name (SIGKILL) and waits until every sentinel names the other node. */
  async killPrimary (): Promise<void> {
    let current = ''
    await this.#until(async (sentinel) => {
      current = await this.#masterPort(sentinel)
      return current !== ''
    })
    const replicaLeads = current === String(this.replica.port)
    const [victim, survivor] = replicaLeads ? [this.replica, this.primary] : [this.primary, this.replica]
    await victim.stop()
    await this.#until(async (sentinel) => await this.#masterPort(sentinel) === String(survivor.port))
  }

  async #masterPort (sentinel: Redis): Promise<string> {
    const address = await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER) as [string, string] | null
    return address?.[1] ?? ''
  }

  async #until (check: (sentinel: Redis) => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      const probes = this.sentinels.map((sentinel) => new Redis(sentinel.port, '127.0.0.1', {
        maxRetriesPerRequest: 0,
        ...(this.password === undefined ? {} : { password: this.password })
      }))
      try {
        if ((await Promise.all(probes.map(check))).every(Boolean)) return
      } catch {
        // A sentinel still starting: ask again.
      } finally {
        for (const probe of probes) probe.disconnect()
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    throw new Error('the sentinels did not settle within 30 s')
  }
}
