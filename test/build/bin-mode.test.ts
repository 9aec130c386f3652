/**
 * Regression: after `npm run build` the package's bin had no run bit, so `npx atlassian-broker` failed with
 * "Permission denied". The real `postbuild` script of package.json runs here against a stand-in build output.
 */
import { execFile } from 'node:child_process'
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'

const run = promisify(execFile)
const PACKAGE_JSON = fileURLToPath(new URL('../../package.json', import.meta.url))

t.test('postbuild makes every bin executable', async (t) => {
  const manifest = JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { bin: Record<string, string> }
  const dir = mkdtempSync(path.join(tmpdir(), 'bin-mode-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  copyFileSync(PACKAGE_JSON, path.join(dir, 'package.json'))
  const bins = Object.values(manifest.bin)
  t.ok(bins.length > 0, 'the package declares a bin')
  for (const bin of bins) {
    mkdirSync(path.dirname(path.join(dir, bin)), { recursive: true })
    writeFileSync(path.join(dir, bin), '#!/usr/bin/env node\n')
    chmodSync(path.join(dir, bin), 0o644) // what tsc writes
  }
  await run('npm', ['run', '--silent', 'postbuild'], { cwd: dir })
  for (const bin of bins) {
    t.equal(statSync(path.join(dir, bin)).mode & 0o777, 0o755, `${bin} is executable after the build`)
  }
})
