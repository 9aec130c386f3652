/**
 * scripts/warm-compile-cache.mjs, which the Dockerfile runs to bake Node's compile cache into the image: it starts
 * the real `serve` on throwaway defaults and leaves the bytecode of the modules it loaded in the directory given.
 */
import { spawn } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import module from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { CLI } from '../helpers/cli.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const SCRIPT = path.join(ROOT, 'scripts/warm-compile-cache.mjs')

function warm (cacheDir: string): Promise<{ code: number | null, output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, cacheDir, CLI], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
    child.once('error', reject)
    child.once('exit', (code) => resolve({ code, output }))
  })
}

t.test('the cache directory holds the modules serve loaded', async (t) => {
  const cacheDir = path.join(t.testdir({}), 'compile-cache')
  const { code, output } = await warm(cacheDir)
  t.equal(code, 0, output)
  if (!('flushCompileCache' in module)) {
    t.match(output, /has no compile cache/, 'Node 20 says there is nothing to warm')
    t.notOk(existsSync(cacheDir), 'and writes nothing')
    return
  }
  const files = readdirSync(cacheDir, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile())
  t.ok(files.length >= 100, `${files.length} modules cached`)
  t.match(output, new RegExp(`compile cache warmed: ${files.length} modules`), 'the count is reported')
})

t.test('without a directory it says how to call it', async (t) => {
  const child = spawn(process.execPath, [SCRIPT], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  t.equal(await new Promise((resolve) => child.once('exit', resolve)), 2)
  t.match(stderr, /^usage: node scripts\/warm-compile-cache\.mjs CACHE_DIR/)
})
