/**
 * The bench's own Redis: one redis-server, or a cluster of three primaries and three replicas (`redis-server
 * --cluster-enabled yes` joined by `redis-cli --cluster create`), on free loopback ports, no persistence. `info()`
 * sums an INFO section's numeric fields over every primary, so a cluster reports like one server.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { freePort } from './processes.js'

export interface BenchRedis {
  /** The fleet.redis part naming it. */
  where: { url: string } | { cluster: { nodes: string[] } }
  /** INFO `section` of every primary, numeric fields summed (commandstats: `cmdstat_eval.calls` and so on). */
  info: (section: string) => Promise<Map<string, number>>
  stop: () => void
}

async function startNode (args: string[]): Promise<{ port: number, child: ChildProcess }> {
  if (spawnSync('redis-server', ['--version']).status !== 0) throw new Error('redis-server is not installed: the fleet scenarios need it (apt-get install redis-server)')
  const port = await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args], { stdio: ['ignore', 'pipe', 'ignore'] })
  await new Promise<void>((resolve, reject) => {
    let output = ''
    child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString(); if (output.includes('Ready to accept')) resolve() })
    child.once('exit', (code) => reject(new Error(`redis-server exited ${code}`)))
  })
  child.stdout?.resume()
  return { port, child }
}

async function infoOf (ports: number[], section: string): Promise<Map<string, number>> {
  const sums = new Map<string, number>()
  for (const port of ports) {
    const client = new Redis(port, '127.0.0.1')
    try {
      for (const line of (await client.info(section)).split('\r\n')) {
        const [name, value] = line.split(':')
        if (name === undefined || value === undefined) continue
        // commandstats: "cmdstat_eval:calls=3,usec=40,..." becomes cmdstat_eval.calls and so on.
        const fields = value.includes('=') ? value.split(',').map((pair) => pair.split('=')) : [['', value]]
        for (const [field, number] of fields) {
          const key = field === '' ? name : `${name}.${field!}`
          if (number === undefined || !Number.isFinite(Number(number))) continue
          sums.set(key, (sums.get(key) ?? 0) + Number(number))
        }
      }
    } finally { client.disconnect() }
  }
  return sums
}

export async function startRedis (): Promise<BenchRedis> {
  const { port, child } = await startNode([])
  return { where: { url: `redis://127.0.0.1:${port}` }, info: async (section) => await infoOf([port], section), stop: () => { child.kill('SIGKILL') } }
}

export async function startRedisCluster (): Promise<BenchRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-cluster-'))
  const nodes: Array<{ port: number, child: ChildProcess }> = []
  const stop = (): void => {
    for (const node of nodes) node.child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    for (let index = 0; index < 6; index++) {
      nodes.push(await startNode(['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${index}.conf`), '--dir', dir, '--cluster-port', String(await freePort())]))
    }
    const created = spawnSync('redis-cli', ['--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`), '--cluster-replicas', '1', '--cluster-yes'], { encoding: 'utf8', timeout: 60_000 })
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout.slice(-300)}`)
    const probe = new Redis(nodes[0]!.port, '127.0.0.1')
    try {
      for (let tries = 0; !(await probe.cluster('INFO')).includes('cluster_state:ok'); tries++) {
        if (tries > 300) throw new Error('the cluster did not become ok')
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    } finally { probe.disconnect() }
    const primaries = async (): Promise<number[]> => {
      const client = new Redis(nodes[0]!.port, '127.0.0.1')
      try {
        return (await client.cluster('SLOTS')).map((range) => range[2]?.[1]).filter((port): port is number => port !== undefined)
      } finally { client.disconnect() }
    }
    return {
      where: { cluster: { nodes: nodes.slice(0, 3).map((node) => `redis://127.0.0.1:${node.port}`) } },
      info: async (section) => await infoOf([...new Set(await primaries())], section),
      stop
    }
  } catch (error) {
    stop()
    throw error
  }
}
