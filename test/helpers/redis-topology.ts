/**
 * The Redis a fleet test runs on, whatever its shape: one redis-server, a cluster or a primary watched by sentinels.
 * A scenario asks its topology for a fresh (empty) Redis, names it in `fleet.redis` with `where()`, and inspects it
 * through `client()` (commands reach the node that owns the key) and `keys()` (every primary's keys).
 */
import type { Cluster, Redis } from 'ioredis'

export type RedisWhere =
  | { url: string }
  | { cluster: { nodes: string[] } }
  | { sentinel: { nodes: string[], masterName: string, password?: string } }

export interface RedisUnderTest {
  where: () => RedisWhere
  client: () => Redis | Cluster
  keys: (pattern: string) => Promise<string[]>
  /** Clients subscribed to `channel` (on a cluster: on every live node; a PUBLISH reaches them all). */
  subscribers: (channel: string) => Promise<number>
}

export interface Topology {
  name: 'single' | 'cluster' | 'sentinel'
  /** An empty Redis for one test (a cluster is started once per file and flushed between tests: six processes). */
  fresh: (t: { teardown: (fn: () => Promise<void> | void) => void }) => Promise<RedisUnderTest>
}
