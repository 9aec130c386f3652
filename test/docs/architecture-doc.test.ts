/**
 * docs/architecture.md follows the tree (issue 23): every module under src/ is named in it, so a new file without a
 * line saying what concept it owns fails here instead of leaving the module table behind.
 */
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const root = fileURLToPath(new URL('../..', import.meta.url))
const doc = readFileSync(path.join(root, 'docs/architecture.md'), 'utf8')

const modules = readdirSync(path.join(root, 'src'), { recursive: true, withFileTypes: true })
  .filter((entry) => entry.isFile() && /\.(ts|js|html|css)$/.test(entry.name))
  .map((entry) => path.relative(path.join(root, 'src'), path.join(entry.parentPath, entry.name)))

t.test('every module under src/ is named in docs/architecture.md', async (t) => {
  t.ok(modules.length > 100, `${modules.length} modules`)
  const unnamed = modules.filter((module) => !doc.includes(path.basename(module)))
  t.same(unnamed, [], 'each has a row (or a sentence) saying what it owns')
})
