/**
 * scripts/warm-compile-cache.mjs, which the Dockerfile runs to bake Node's compile cache into the image: it starts
 * the real `serve` on throwaway defaults and leaves the bytecode of the modules it loaded in the directory given.
 */
import { existsSync, readdirSync } from 'node:fs'
import module from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { CLI } from '../helpers/cli.js'
import { runNode } from '../helpers/run-node.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const SCRIPT = path.join(ROOT, 'scripts/warm-compile-cache.mjs')

t.test('the cache directory holds the modules serve loaded', async (t) => {
  const cacheDir = path.join(t.testdir({}), 'compile-cache')
  const { code, output } = await runNode([SCRIPT, cacheDir, CLI], { cwd: ROOT })
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
  const { code, output } = await runNode([SCRIPT], { cwd: ROOT })
  t.equal(code, 2)
  t.match(output, /^usage: node scripts\/warm-compile-cache\.mjs CACHE_DIR/)
})
