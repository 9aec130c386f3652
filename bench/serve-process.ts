/**
 * The real `serve` command as a pod runs it: the built CLI (`dist/broker/main.js`; from source through tsx when the
 * bench itself runs from source), its config in a file, its credentials in the embedded file store, its log lines on
 * stdout going to a file. Used by the hot-path scenario (under load) and the footprint scenario (start-up, idle RSS).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, existsSync, openSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { request } from 'undici'
import type { ConfigInput } from '../src/config/schema.js'
import { createFileStore } from '../src/secrets/file/file-store.js'
import { MASTER_KEY } from './broker-config.js'

/**
 * The CLI a build under `root` runs: the bundle (dist/broker/main.js), or tsc's dist/src/cli/main.js in builds made
 * before the bundle existed (compare-builds checks out older commits).
 */
export function builtCli (root: string): string {
  const bundle = path.join(root, 'dist/broker/main.js')
  return existsSync(bundle) ? bundle : path.join(root, 'dist/src/cli/main.js')
}

/**
 * The CLI as this run sees it, like the bench's other children (processes.ts): the built CLI beside
 * dist/bench (`npm run bench` builds first), or src/cli/main.ts through tsx's loader when the bench itself runs from
 * source (the test suite's smoke run), so a fresh clone's `npm test` needs no build.
 */
export function cliCommand (): { argv: string[], built: boolean } {
  const here = fileURLToPath(import.meta.url)
  let dir = path.dirname(here)
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir)
  if (path.extname(here) === '.js') return { argv: [builtCli(dir)], built: true }
  const loader = process.execArgv.filter((arg) => !arg.startsWith('--cpu-prof')).map(absoluteLoader)
  return { argv: [...loader, path.join(dir, 'src/cli/main.ts')], built: false }
}

/** `--import tsx` resolves from the working directory, which the footprint scenario changes: made absolute here. */
function absoluteLoader (arg: string, index: number, all: string[]): string {
  const flag = /^--(import|loader|experimental-loader)(=|$)/
  const inline = flag.exec(arg)
  const value = inline?.[2] === '=' ? arg.slice(arg.indexOf('=') + 1) : flag.test(all[index - 1] ?? '') && !all[index - 1]?.includes('=') ? arg : undefined
  if (value === undefined || /^(\.|\/|file:|data:)/.test(value)) return arg
  const resolved = import.meta.resolve(value)
  return inline === null ? resolved : `${arg.slice(0, arg.indexOf('=') + 1)}${resolved}`
}

/** Polls /readyz every 5 ms from spawn; returns ms to the first 200. */
export async function untilReady (child: ChildProcess, url: string, started: number): Promise<number> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`process exited ${child.exitCode} before it was ready`)
    try {
      const response = await request(url, { headersTimeout: 2_000, bodyTimeout: 2_000 })
      await response.body.dump()
      if (response.statusCode === 200) return performance.now() - started
    } catch { /* not listening yet */ }
    if (performance.now() - started > 30_000) throw new Error(`${url} not ready after 30 s`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** Spawns node (pinned to `cpus` through taskset, which execs it: the pid is node's) with stdout to `stdout`. */
export function spawnNode (
  argv: string[],
  options: { env: NodeJS.ProcessEnv, cpus: string | undefined, stdout?: string | undefined, cwd?: string | undefined }
): ChildProcess {
  const out = options.stdout === undefined ? 'ignore' : openSync(options.stdout, 'a')
  const spawnOptions = { stdio: ['ignore', out, 'ignore'] as Array<'ignore' | number>, env: options.env, cwd: options.cwd }
  try {
    return options.cpus === undefined
      ? spawn(process.execPath, argv, spawnOptions)
      : spawn('taskset', ['-c', options.cpus, process.execPath, ...argv], spawnOptions)
  } finally {
    if (typeof out === 'number') closeSync(out)
  }
}

export interface ServeProcess { url: string, pid: number, readyMs: number, stop: () => Promise<void> }

/**
 * Writes `config` (JSON is YAML) to `configFile`, stores a credential for each of `credentials`, starts
 * `serve --config` and waits for its /readyz. stop() sends SIGTERM (serve closes with grace, and a `--cpu-prof`
 * node writes its profile on that exit).
 */
export async function startServe (
  config: ConfigInput & { listen: { host: string, port: number } },
  options: {
    configFile: string
    credentials: string[]
    cpus: string | undefined
    logFile: string
    nodeArgs?: string[]
    /** Another build's CLI (compare-builds): its `builtCli`. */
    cli?: string[]
  }
): Promise<ServeProcess> {
  writeFileSync(options.configFile, JSON.stringify(config))
  const storePath = config.secrets?.file?.path
  if (storePath !== undefined && options.credentials.length > 0) {
    const store = await createFileStore({ path: storePath, masterKey: MASTER_KEY, logger: pino({ level: 'silent' }) })
    const stored = new Set((await store.list()).map((summary) => summary.integration))
    for (const integration of options.credentials) {
      if (!stored.has(integration)) await store.put(integration, { client_id: `bench-client-${integration}`, client_secret: `bench-secret-${integration}-0123456789abcdef` })
    }
  }
  const env = { ...process.env, BROKER_MASTER_KEY: MASTER_KEY, BROKER_CONFIG: '' }
  const started = performance.now()
  const child = spawnNode([...(options.nodeArgs ?? []), ...(options.cli ?? cliCommand().argv), 'serve', '--config', options.configFile], { env, cpus: options.cpus, stdout: options.logFile })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const url = `http://${config.listen.host}:${config.listen.port}`
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }
  try {
    const readyMs = await untilReady(child, `${url}/readyz`, started)
    return { url, pid: child.pid as number, readyMs, stop }
  } catch (error) {
    child.kill('SIGKILL')
    await exited
    throw error
  }
}
