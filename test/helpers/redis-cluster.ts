/**
 * A real Redis Cluster for a test: three primaries and three replicas (Debian's `redis-server --cluster-enabled yes`
 * on free loopback ports, joined by `redis-cli --cluster create --cluster-replicas 1`), a short node timeout so a
 * killed primary's replica takes over within seconds. `killPrimaryOf(key)` kills the primary serving a key and waits
 * until its replica serves the slot.
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { Cluster, Redis } from 'ioredis'
import { freePort, RedisServer, serverDir, subscribersOn } from './redis-server.js'
import type { RedisUnderTest, RedisWhere, Topology } from './redis-topology.js'

const NODES = 6
const NODE_TIMEOUT_MS = 1_000

export function findRedisCli (): boolean {
  return spawnSync('redis-cli', ['--version']).status === 0
}

export class RedisCluster implements RedisUnderTest {
  readonly #inspect: Cluster

  private constructor (readonly nodes: RedisServer[]) {
    this.#inspect = new Cluster(this.nodes.slice(0, 3).map((node) => ({ host: '127.0.0.1', port: node.port })), { lazyConnect: false })
    this.#inspect.on('error', () => {})
  }

  static async start (t: { teardown: (fn: () => Promise<void> | void) => void }): Promise<RedisCluster> {
    const dir = serverDir(t, 'redis-cluster-')
    const nodes: RedisServer[] = []
    for (let index = 0; index < NODES; index++) {
      nodes.push(await RedisServer.start(t, {
        args: [
          '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${index}.conf`), '--dir', dir,
          '--cluster-port', String(await freePort()), '--cluster-node-timeout', String(NODE_TIMEOUT_MS),
          '--cluster-replica-validity-factor', '0'
        ]
      }))
    }
    const created = spawnSync('redis-cli', [
      '--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`), '--cluster-replicas', '1', '--cluster-yes'
    ], { encoding: 'utf8', timeout: 30_000 })
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout.slice(-500)}${created.stderr.slice(-500)}`)
    const cluster = new RedisCluster(nodes)
    t.teardown(() => { cluster.#inspect.disconnect() })
    await cluster.#settled(() => true)
    return cluster
  }

  /** As a topology: one cluster for the whole file (stopped with `parent`), flushed before each test. */
  static topology (parent: { teardown: (fn: () => Promise<void> | void) => void }): Topology {
    let shared: Promise<RedisCluster> | undefined
    return {
      name: 'cluster',
      fresh: async () => {
        shared ??= RedisCluster.start(parent)
        const cluster = await shared
        await cluster.flush()
        return cluster
      }
    }
  }

  where (): RedisWhere {
    return { cluster: { nodes: this.nodes.slice(0, 2).map((node) => `redis://127.0.0.1:${node.port}`) } }
  }

  /** A client of the test's own (closed by the caller). */
  client (): Cluster {
    const client = new Cluster(this.nodes.filter((node) => node.running).map((node) => ({ host: '127.0.0.1', port: node.port })))
    client.on('error', () => {})
    return client
  }

  async keys (pattern: string): Promise<string[]> {
    const lists = await Promise.all(this.#inspect.nodes('master').map(async (node) => await node.keys(pattern)))
    return lists.flat()
  }

  async subscribers (channel: string): Promise<number> {
    const live = this.nodes.filter((node) => node.running)
    const counts = await Promise.all(live.map(async (node) => await subscribersOn(node.client(), channel)))
    return counts.reduce((sum, count) => sum + count, 0)
  }

  async flush (): Promise<void> {
    await Promise.all(this.#inspect.nodes('master').map(async (node) => await node.flushall()))
  }

  /** Kills (SIGKILL) the primary that serves `key` and waits until a replica serves its slot and the cluster is ok. */
  async killPrimaryOf (key: string): Promise<number> {
    const slot = Number(await this.#inspect.cluster('KEYSLOT', key))
    const before = await this.#ownerOf(slot)
    const victim = this.nodes.find((node) => node.port === before)!
    await victim.stop()
    await this.#settled(async (probe) => (await this.#ownerOf(slot, probe)) !== before)
    return before
  }

  async #ownerOf (slot: number, probe?: Redis): Promise<number> {
    const ranges = await (probe ?? this.#inspect).cluster('SLOTS')
    const range = ranges.find(([from, to]) => slot >= from && slot <= to)
    return range?.[2]?.[1] ?? -1
  }

  /** Waits (up to 30 s) until every live node says cluster_state:ok and `done` holds on one of them. */
  async #settled (done: (probe: Redis) => boolean | Promise<boolean>): Promise<void> {
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      const live = this.nodes.filter((node) => node.running)
      const probes = live.map((node) => new Redis(node.port, '127.0.0.1', { maxRetriesPerRequest: 0 }))
      try {
        const states = await Promise.all(probes.map(async (probe) => await probe.cluster('INFO') as string))
        if (states.every((state) => state.includes('cluster_state:ok')) && await done(probes[0]!)) return
      } catch {
        // A node still starting: ask again.
      } finally {
        for (const probe of probes) probe.disconnect()
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    throw new Error('the Redis cluster did not settle within 30 s')
  }
}
