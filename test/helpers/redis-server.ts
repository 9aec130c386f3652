/**
 * A real `redis-server` for a test: a free loopback port, no persistence, stopped with the test. `stop()` and
 * `restart()` (same port, empty data) let fault tests take Redis away under load. When the binary is missing (a
 * machine where .ci/run could not install it), `findRedisServer()` says so and the test reports itself skipped.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { killAtExit, removeAtExit } from './exit-reaper.js'
import type { RedisUnderTest, RedisWhere, Topology } from './redis-topology.js'

export function findRedisServer (): string | undefined {
  const bin = process.env.ATLASSIAN_BROKER_REDIS_BIN ?? 'redis-server'
  const probe = spawnSync(bin, ['--version'], { encoding: 'utf8' })
  return probe.status === 0 ? bin : undefined
}

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port
      server.close(() => resolve(port))
    })
  })
}

/** A temporary directory for servers' files (cluster and sentinel configs), removed with the test or at exit. */
export function serverDir (t: { teardown: (fn: () => Promise<void> | void) => void }, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const atExit = removeAtExit(dir)
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true })
    atExit.forget()
  })
  return dir
}

/** One redis-server per test. */
export const singleNode: Topology = { name: 'single', fresh: async (t) => await RedisServer.start(t) }

export class RedisServer implements RedisUnderTest {
  #child: ChildProcess | undefined
  #holder: Server | undefined
  readonly #extra: string[]
  readonly #sentinelConfig: string | undefined

  private constructor (
    readonly bin: string,
    readonly port: number,
    extra: string[],
    sentinelConfig: string | undefined
  ) {
    this.#extra = extra
    this.#sentinelConfig = sentinelConfig
  }

  static async start (
    t: { teardown: (fn: () => Promise<void> | void) => void },
    options: { args?: string[], sentinelConfig?: string } = {}
  ): Promise<RedisServer> {
    const bin = findRedisServer()
    if (bin === undefined) throw new Error('redis-server not found')
    // The free port is free only until someone else binds it (other test files, other users of the machine): a
    // server that lost that race gets another port.
    for (let attempt = 1; ; attempt++) {
      // Its own --dir: a replica's full sync writes dump.rdb there, and every later redis-server started in the same
      // directory (the checkout) loaded it: fleet-in-process.test.ts found a sentinel test's `failover:` keys.
      const dir = ['--dir', serverDir(t, 'redis-server-')]
      const server = new RedisServer(bin, await freePort(), [...dir, ...options.args ?? []], options.sentinelConfig)
      try {
        await server.#spawn()
      } catch (error) {
        if (attempt < 3 && /Address already in use/.test((error as Error).message)) continue
        throw error
      }
      t.teardown(async () => {
        await server.stop()
        await server.#release()
      })
      return server
    }
  }

  get url (): string {
    return `redis://127.0.0.1:${this.port}`
  }

  where (): RedisWhere {
    return { url: this.url }
  }

  get running (): boolean {
    return this.#child !== undefined && this.#child.exitCode === null
  }

  async keys (pattern: string): Promise<string[]> {
    const client = this.client()
    try { return await client.keys(pattern) } finally { client.disconnect() }
  }

  async subscribers (channel: string): Promise<number> {
    return await subscribersOn(this.client(), channel)
  }

  /** A plain client for the test's own inspection (closed by the caller). */
  client (): Redis {
    return new Redis(this.url, { lazyConnect: false, maxRetriesPerRequest: 1 })
  }

  /**
   * Kills the server (SIGKILL). Its port stays taken until the test ends (a listener that drops every connection):
   * the clients of this test keep reconnecting to it, and on a port handed to another test file's redis-server they
   * wrote their keys into that test's Redis (fleet-in-process.test.ts saw a failover test's `failover:` keys).
   */
  async stop (): Promise<void> {
    const child = this.#child
    this.#child = undefined
    if (child === undefined || child.exitCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
    const holder = createServer((socket) => { socket.destroy() })
    await new Promise<void>((resolve) => {
      holder.once('error', () => { resolve() })
      holder.listen(this.port, '127.0.0.1', () => {
        this.#holder = holder
        resolve()
      })
    })
  }

  async #release (): Promise<void> {
    const holder = this.#holder
    this.#holder = undefined
    if (holder !== undefined) await new Promise((resolve) => holder.close(resolve))
  }

  /** Pauses the process (SIGSTOP): connections stay open, every command times out. `resume()` undoes it. */
  pause (): void {
    this.#child?.kill('SIGSTOP')
  }

  resume (): void {
    this.#child?.kill('SIGCONT')
  }

  async restart (): Promise<void> {
    await this.stop()
    await this.#release()
    await this.#spawn()
  }

  async #spawn (): Promise<void> {
    const listen = ['--port', String(this.port), '--bind', '127.0.0.1']
    // A sentinel (`sentinelConfig`, a file it may rewrite) is the same binary with --sentinel.
    const args = this.#sentinelConfig === undefined
      ? [...listen, '--save', '', '--appendonly', 'no', ...this.#extra]
      : [this.#sentinelConfig, '--sentinel', ...listen, ...this.#extra]
    const child = spawn(
      this.bin,
      args,
      { stdio: ['ignore', 'pipe', 'pipe'] }
    )
    this.#child = child
    // Killed when the test file ends however it ends (a crash or tap's timeout skips the teardowns).
    killAtExit(child)
    let output = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(new Error(`redis-server did not start: ${output.slice(-500)}`))
      }, 10_000)
      child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString()
        if (/Ready to accept connections|Sentinel ID is/.test(output)) {
          clearTimeout(timer)
          resolve()
        }
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`redis-server exited ${code}: ${output.slice(-500)}`))
      })
    })
    child.stdout?.resume()
    child.stderr?.resume()
  }
}

/** `PUBSUB NUMSUB channel` through `client`, which it closes. */
export async function subscribersOn (client: Redis, channel: string): Promise<number> {
  try {
    const [, count] = await client.pubsub('NUMSUB', channel) as [string, number]
    return Number(count)
  } finally {
    client.disconnect()
  }
}
