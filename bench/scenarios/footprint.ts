/**
 * Scenario 8: footprint of the `serve` command as a first start runs it (the built CLI under `npm run bench`, its
 * embedded defaults): time from spawn to the first `/readyz` 200, and RSS when idle after that, median of N starts. The
 * reference is a bare `node:http` server answering 200 on the same probe, started the same way. On Node 22.10 and
 * later the broker's compile cache (src/cli/compile-cache.ts) is primed by one start that is not counted, as a
 * restarted pod finds it; each round also starts the broker with the cache off, to show what the cache buys.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import module from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { MASTER_KEY } from '../broker-config.js'
import { freePort, readMemory } from '../processes.js'
import { cliCommand, spawnNode, untilReady } from '../serve-process.js'
import { median, metric, type Scenario } from './scenario.js'

// An ES module, like the broker's entry (a CommonJS `-e` script starts lighter and flatters the reference).
const BARE = ['--input-type=module', '-e', "import { createServer } from 'node:http'; createServer((q, s) => { s.end('ok') }).listen(Number(process.argv[1]), '127.0.0.1')"]

async function startOnce (
  argv: string[],
  env: NodeJS.ProcessEnv,
  port: number,
  cpus: string | undefined,
  cwd?: string
): Promise<{ readyMs: number, rssMb: number }> {
  const started = performance.now()
  const child = spawnNode(argv, { env, cpus, cwd })
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
  async run ({ settings, cpus, log }) {
    const starts = settings.quick ? 2 : 10
    const dir = mkdtempSync(path.join(os.tmpdir(), 'atlassian-broker-footprint-'))
    try {
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
        // The embedded defaults (no config file in the working directory, none named): what a first start runs.
        return await startOnce([...cli.argv, 'serve', '--port', String(port)], startEnv, port, cpus.proxy, dir)
      }
      if (hasCompileCache) await startBroker(env)
      for (let round = 0; round < starts; round++) {
        const broker = await startBroker(env)
        const uncached = hasCompileCache ? await startBroker(uncachedEnv) : broker
        const barePort = await freePort()
        const bare = await startOnce([...BARE, String(barePort)], process.env, barePort, cpus.proxy)
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
          metric('idle RSS', 'MB', median(runs.broker.map((run) => run.rssMb)), median(runs.baseline.map((run) => run.rssMb)), 'difference', { on: 'comparison', op: '<', value: 19 })
        ],
        notes: [
          `median of ${starts} starts of ${cli.built ? 'the built CLI' : 'the CLI from source through tsx (not comparable with a built run)'} (\`serve\` on its embedded defaults: file store, generated caller key, no integration), pinned like the proxy; /readyz polled every 5 ms from spawn; RSS read from /proc 1 s after ready`,
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
