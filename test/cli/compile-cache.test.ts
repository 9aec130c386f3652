/**
 * `serve` keeps Node's module compile cache (Node ≥ 22.10; src/cli/compile-cache.ts): in a directory of the user's,
 * written once it is ready, so a process that is killed rather than stopped still leaves it for the next start.
 */
import module from 'node:module'
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { defaultCompileCacheDir } from '../../src/cli/compile-cache.js'
import { cliEnv, startCli, waitForLine } from '../helpers/cli.js'

const MASTER = '6a1f0c9e3b7d52a8e4c1f0b9a7d6e5c4b3a29180f7e6d5c4b3a2918070605040'
const noCompileCache = 'flushCompileCache' in module ? false : `Node ${process.version} has no compile cache (22.10 and later)`

t.test('the default directory is the user\'s cache home, never a shared one', async (t) => {
  t.equal(defaultCompileCacheDir({ XDG_CACHE_HOME: '/home/job/.xdg-cache' }), '/home/job/.xdg-cache/atlassian-broker/compile-cache')
  const home = path.join(os.homedir(), '.cache', 'atlassian-broker', 'compile-cache')
  t.equal(defaultCompileCacheDir({ XDG_CACHE_HOME: '' }), home, 'an empty XDG_CACHE_HOME means ~/.cache')
})

/** Starts `serve`, waits until it listens, then kills it (SIGKILL: nothing is written at exit). */
async function serveAndKill (t: Test, extraEnv: Record<string, string>): Promise<{ files: string[] }> {
  const dir = t.testdir({})
  const cacheHome = path.join(dir, 'cache-home')
  const config = path.join(dir, 'atlassian-broker.yaml')
  writeFileSync(config, JSON.stringify({ listen: { host: '127.0.0.1', port: 0 }, dataDir: path.join(dir, 'data') }))
  const child = startCli(['serve', '--config', config], { cwd: dir, env: cliEnv({ BROKER_MASTER_KEY: MASTER, XDG_CACHE_HOME: cacheHome, ...extraEnv }) })
  t.teardown(() => { child.kill('SIGKILL') })
  await waitForLine(child, /listening on/)
  child.kill('SIGKILL')
  await new Promise((resolve) => child.on('exit', resolve))
  const root = path.join(cacheHome, 'atlassian-broker', 'compile-cache')
  return { files: existsSync(root) ? filesUnder(root) : [] }
}

function filesUnder (root: string): string[] {
  const entries = readdirSync(root, { recursive: true, withFileTypes: true })
  return entries.filter((entry) => entry.isFile()).map((entry) => entry.name)
}

t.test('a ready serve has written the compile cache, even when killed', { skip: noCompileCache }, async (t) => {
  const { files } = await serveAndKill(t, {})
  t.ok(files.length >= 10, `bytecode of the modules serve loaded is cached (${files.length} files)`)
})

t.test('NODE_DISABLE_COMPILE_CACHE=1 leaves no cache', { skip: noCompileCache }, async (t) => {
  const { files } = await serveAndKill(t, { NODE_DISABLE_COMPILE_CACHE: '1' })
  t.same(files, [])
})

t.test('NODE_COMPILE_CACHE chooses the directory', { skip: noCompileCache }, async (t) => {
  const chosen = t.testdir({})
  const { files } = await serveAndKill(t, { NODE_COMPILE_CACHE: chosen })
  t.same(files, [], 'nothing in the default directory')
  t.ok(filesUnder(chosen).length >= 10, 'the cache is in NODE_COMPILE_CACHE')
})
