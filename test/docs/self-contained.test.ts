/**
 * Regression: comments and docs cited a build machine's shared folder (absolute paths, a relative link up and out of
 * the repository, house-style rule tags) that a reader of the repository alone cannot open. They now live in docs/.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
// Built from parts so this file does not match itself.
const OUTSIDE = new RegExp(['/work/' + 'shared', '\\.\\./' + 'shared/', 'STYLE' + ':'].join('|'))

t.test('no tracked file points outside the repository', async (t) => {
  const files = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0')
    .filter((file) => /\.(ts|js|md|sh|ya?ml|json)$/.test(file) && file !== 'package-lock.json')
  t.ok(files.length > 100, 'the tracked files were listed')
  const offenders = files.filter((file) => OUTSIDE.test(readFileSync(path.join(ROOT, file), 'utf8')))
  t.same(offenders, [], 'no citation of a folder outside the repository')
})

t.test('the documents cited instead are in the repository', async (t) => {
  for (const doc of ['docs/style.md', 'docs/reference/atlassian.md', 'docs/reference/vault-api.md', 'docs/reference/vault-build.md']) {
    t.ok(existsSync(path.join(ROOT, doc)), doc)
  }
})
