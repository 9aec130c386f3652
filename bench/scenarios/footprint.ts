/**
 * Scenario 8: footprint of the `serve` command as a pod runs it (the built CLI under `npm run bench`, file store, the
 * small config): time from spawn to the first `/readyz` 200, and RSS when idle after that, median of N starts. The
 * reference is a bare `node:http` server answering 200 on the same probe, started the same way. On Node 22.10 and
 * later the broker's compile cache (src/cli/compile-cache.ts) is primed by one start that is not counted, as a
 * restarted pod finds it; each round also starts the broker with the cache off, to show what the cache buys.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import module from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { brokerConfigInput, MASTER_KEY } from '../broker-config.js'
import { freePort, readMemory } from '../processes.js'
import { median, metric, type Scenario } from './scenario.js'

const BARE = "require('node:http').createServer((q, s) => { s.end('ok') }).listen(Number(process.argv[1]), '127.0.0.1')"

/**
 * The CLI as this run sees it, like the bench's other children (processes.ts): the built dist/src/cli/main.js beside
 * dist/bench (`npm run bench` builds first), or src/cli/main.ts through tsx's loader when the bench itself runs from
 * source (the test suite's smoke run), so a fresh clone's `npm test` needs no build.
 */
function cliCommand (): { argv: string[], built: boolean } {
  const here = fileURLToPath(import.meta.url)
  let dir = path.dirname(here)
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir)
  if (path.extname(here) === '.js') return { argv: [path.join(dir, 'dist/src/cli/main.js')], built: true }
  const loader = process.execArgv.filter((arg) => !arg.startsWith('--cpu-prof'))
  return { argv: [...loader, path.join(dir, 'src/cli/main.ts')], built: false }
}

/** Polls /readyz every 5 ms from spawn; returns ms to the first 200. */
async function untilReady (child: ChildProcess, url: string, started: number): Promise<number> {
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

async function startOnce (
  argv: string[],
  env: NodeJS.ProcessEnv,
  port: number,
  cpus: string | undefined
): Promise<{ readyMs: number, rssMb: number }> {
  const started = performance.now()
  const child =
    cpus === undefined
      ? spawn(process.execPath, argv, { stdio: 'ignore', env })
      : spawn('taskset', ['-c', cpus, process.execPath, ...argv], { stdio: 'ignore', env })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  try {
    const readyMs = await untilReady(child, `http://127.0.0.1:${port}/readyz`, started)
    // Idle: what a pod holds between calls, once start-up's garbage has had a moment.
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    return { readyMs, rssMb: readMemory(child.pid as number).rss / 1_048_576 }
  } finally {
    child.kill('SIGKILL')
    await exited
  }
}

export const footprint: Scenario = {
  name: 'footprint',
  title: 'Start-up and idle memory of `serve` (file store)',
  async run ({ settings, upstream, cpus, log }) {
    const starts = settings.quick ? 2 : 10
    const dir = mkdtempSync(path.join(os.tmpdir(), 'atlassian-broker-footprint-'))
    try {
      const configFile = path.join(dir, 'atlassian-broker.yaml')
      const env = { ...process.env, BROKER_MASTER_KEY: MASTER_KEY, BROKER_CONFIG: '', NODE_COMPILE_CACHE: path.join(dir, 'compile-cache') }
      const uncachedEnv = { ...env, NODE_DISABLE_COMPILE_CACHE: '1' }
      const hasCompileCache = 'flushCompileCache' in module
      const cli = cliCommand()
      const runs: {
        broker: Array<{ readyMs: number, rssMb: number }>
        uncached: Array<{ readyMs: number, rssMb: number }>
        baseline: Array<{ readyMs: number, rssMb: number }>
      } = { broker: [], uncached: [], baseline: [] }
      const startBroker = async (startEnv: NodeJS.ProcessEnv): Promise<{ readyMs: number, rssMb: number }> => {
        const port = await freePort()
        // JSON is YAML: the small config, listening on a free port.
        writeFileSync(configFile, JSON.stringify({ ...brokerConfigInput('small', { upstreamUrl: upstream.url, dataDir: dir }), listen: { host: '127.0.0.1', port } }))
        return await startOnce([...cli.argv, 'serve', '--config', configFile], startEnv, port, cpus.proxy)
      }
      if (hasCompileCache) await startBroker(env)
      for (let round = 0; round < starts; round++) {
        const broker = await startBroker(env)
        const uncached = hasCompileCache ? await startBroker(uncachedEnv) : broker
        const barePort = await freePort()
        const bare = await startOnce(['-e', BARE, String(barePort)], process.env, barePort, cpus.proxy)
        log(`  start ${round + 1}: broker ready ${broker.readyMs.toFixed(0)} ms, RSS ${broker.rssMb.toFixed(1)} MB; without compile cache ${uncached.readyMs.toFixed(0)} ms, ${uncached.rssMb.toFixed(1)} MB; bare node:http ${bare.readyMs.toFixed(0)} ms, ${bare.rssMb.toFixed(1)} MB`)
        runs.broker.push(broker)
        runs.uncached.push(uncached)
        runs.baseline.push(bare)
      }
      return {
        reference: 'a bare node:http server',
        metrics: [
          metric('spawn to /readyz 200', 'ms', median(runs.broker.map((run) => run.readyMs)), median(runs.baseline.map((run) => run.readyMs)), 'difference', { on: 'broker', op: '<', value: 300 }),
          metric('spawn to /readyz 200, no compile cache', 'ms', median(runs.uncached.map((run) => run.readyMs)), median(runs.baseline.map((run) => run.readyMs)), 'difference'),
          metric('idle RSS', 'MB', median(runs.broker.map((run) => run.rssMb)), median(runs.baseline.map((run) => run.rssMb)), 'difference', { on: 'broker', op: '<', value: 60 })
        ],
        notes: [
          `median of ${starts} starts of ${cli.built ? 'the built CLI' : 'the CLI from source through tsx (not comparable with a built run)'} (\`serve --config\`, file store, small config), pinned like the proxy; /readyz polled every 5 ms from spawn; RSS read from /proc 1 s after ready`,
          hasCompileCache
            ? 'compile cache primed by one uncounted start (a restarted pod); "no compile cache" starts with NODE_DISABLE_COMPILE_CACHE=1'
            : `Node ${process.version} has no compile cache: both start-up rows are the same starts`
        ],
        samples: runs
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
