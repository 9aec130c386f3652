/**
 * A test that cannot run here (no redis-server, no Vault binary, no browser) is skipped with tap's `skip`, so the
 * count says so. Issue 23: five files instead passed an assertion named "skipped: …", which CI counted as a pass, so
 * a machine without Redis reported the fleet as tested. This scans every test source for the ways that happened:
 * a passing assertion whose message says it skipped or that something is missing, and an assertion of a constant.
 */
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const TEST_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/**
 * The patterns, written with escapes so that this file's own text never matches them: tap's pass with a message
 * that says "skipped" (or "unavailable", "not installed", "missing", "absent", "no redis-server"…), and tap's ok
 * given the constant true.
 */
const FAKE_SKIPS: Array<{ what: string, pattern: RegExp }> = [
  {
    what: 'a passing assertion that says it skipped',
    pattern: /\.pass\(\s*['"`][^'"`]*(\bskip|unavailable|not installed|not available|\bmissing\b|\babsent\b|\bno (real )?(redis|vault|binary|chromium|python))/i
  },
  { what: 'an assertion of a constant', pattern: /\.ok\(\s*true\s*[,)]/ }
]

function fakeSkips (source: string): Array<{ line: number, what: string, text: string }> {
  const found: Array<{ line: number, what: string, text: string }> = []
  source.split('\n').forEach((text, index) => {
    for (const { what, pattern } of FAKE_SKIPS) {
      if (pattern.test(text)) found.push({ line: index + 1, what, text: text.trim() })
    }
  })
  return found
}

/** Every TypeScript or JavaScript source under test/ (helpers and fixtures too: a helper could pass for a test). */
function testSources (): string[] {
  return readdirSync(TEST_ROOT, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && /\.(ts|mts|js|mjs)$/.test(entry.name))
    .map((entry) => path.relative(TEST_ROOT, path.join(entry.parentPath, entry.name)))
    .filter((file) => !file.split(path.sep).includes('node_modules'))
    .sort()
}

t.test('the checker finds each way a skip was passed off as a pass, and nothing else', async (t) => {
  // Built by joining, so that these lines of this file do not match themselves.
  const call = (method: string, args: string): string => `t.${method}(${args})`
  t.same(fakeSkips(call('pass', "'skipped: no redis-server'")).map((hit) => hit.what), ['a passing assertion that says it skipped'])
  t.equal(fakeSkips(call('pass', '`skipped: redis-server is not installed`')).length, 1)
  t.equal(fakeSkips(call('pass', "'no real Vault binary'")).length, 1)
  t.equal(fakeSkips(call('pass', "'Chromium unavailable'")).length, 1)
  t.equal(fakeSkips(`  ${call('ok', 'true, \'fine\'')}`).length, 1, 'a constant asserts nothing')
  t.equal(fakeSkips(call('ok', 'true')).length, 1)
  t.same(fakeSkips(call('pass', "'5000 arbitrary paths'")), [], 'a pass after fast-check\'s assert is a real count')
  t.same(fakeSkips(call('ok', 'trueish')), [], 'a name that starts with true is not the constant')
  t.same(fakeSkips("t.test('x', { skip: 'redis-server is not installed' }, fn)"), [], 'tap\'s skip is the way')
  t.same(fakeSkips(readFileSync(fileURLToPath(import.meta.url), 'utf8')), [], 'this file does not flag itself')
})

t.test('no test under test/ passes where it should skip', async (t) => {
  const files = testSources()
  t.ok(files.length > 100, `${files.length} test sources scanned`)
  for (const file of files) {
    const hits = fakeSkips(readFileSync(path.join(TEST_ROOT, file), 'utf8')).map((hit) => `${file}:${hit.line}: ${hit.what}: ${hit.text}`)
    t.same(hits, [], `test/${file} skips with tap's skip`)
  }
})
