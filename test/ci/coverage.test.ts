/**
 * `npm test` reports coverage over src/ and holds it to a floor (scripts/test-with-coverage.mjs, package.json's tap
 * "statements", "branches", "functions", "lines"). Regression: tsx's source maps carry `sourcesContent: [null]`, which
 * c8 (v8-to-istanbul) took for the original text, so every TypeScript file counted as one covered line and the
 * summary said 100 % of nothing.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import t from 'tap'

interface Figure { total: number, covered: number, pct: number }
type Summary = Record<'statements' | 'branches' | 'functions' | 'lines', Figure>
interface CoverageScript {
  mendSourceMaps: (dir: string) => number
  underFloor: (summary: Summary, floor: Partial<Record<keyof Summary, number>>) => string[]
}
interface C8Report {
  getCoverageMapFromAllCoverageFiles: () => Promise<{ fileCoverageFor: (file: string) => { toSummary: () => Summary } }>
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
// Through a variable: the script is plain JavaScript run by `npm test`, without type declarations.
const SCRIPT = new URL('../../scripts/test-with-coverage.mjs', import.meta.url).href
const { mendSourceMaps, underFloor } = await import(SCRIPT) as CoverageScript

const figure = (pct: number): Figure => ({ total: 100, covered: pct, pct })

t.test('underFloor names each figure under its floor, and only those', async (t) => {
  const summary: Summary = { statements: figure(90), branches: figure(80), functions: figure(85), lines: figure(90) }
  t.same(underFloor(summary, { statements: 90, branches: 80, functions: 85, lines: 90 }), [], 'at the floor is fine')
  t.same(underFloor(summary, { statements: 91, branches: 70 }), ['statements coverage 90 % is under the floor of 91 % (package.json, tap "statements")'])
})

t.test('mendSourceMaps drops only an all-null sourcesContent', async (t) => {
  const dir = t.testdir({})
  const entry = (sourcesContent?: Array<string | null>): unknown => ({ lineLengths: [1], data: { version: 3, sources: ['file:///x.ts'], mappings: 'AAAA', ...(sourcesContent ? { sourcesContent } : {}) } })
  writeFileSync(path.join(dir, 'a.json'), JSON.stringify({ result: [], 'source-map-cache': { 'file:///a.ts': entry([null]), 'file:///b.ts': entry(['const b = 1']), 'file:///c.ts': entry() } }))
  writeFileSync(path.join(dir, 'b.json'), JSON.stringify({ result: [] }))
  t.equal(mendSourceMaps(dir), 1, 'one file needed mending')
  const cache = (JSON.parse(readFileSync(path.join(dir, 'a.json'), 'utf8')) as { 'source-map-cache': Record<string, { data: { sourcesContent?: unknown } }> })['source-map-cache']
  t.equal(cache['file:///a.ts']?.data.sourcesContent, undefined, 'the [null] is gone: the report reads the file from disk')
  t.same(cache['file:///b.ts']?.data.sourcesContent, ['const b = 1'], 'real content is kept')
  t.equal(mendSourceMaps(dir), 0, 'a second pass changes nothing')
})

t.test('regression: a TypeScript file run through tsx is counted line by line, not as one covered line', async (t) => {
  // Outside the checkout's .tap/ (tap's recorder leaves .tap paths out), with none of tap's own settings, and with
  // this file named as the one to cover: under `npm test` the recorder in this process hands its children the
  // coverage map's file list, which would leave branchy.ts out.
  const dir = mkdtempSync(path.join(tmpdir(), 'coverage-regression-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  writeFileSync(path.join(dir, 'branchy.ts'), [
    'export function sign (n: number): string {',
    '  if (n > 0) return "positive"',
    '  if (n < 0) return "negative"',
    '  return "zero"',
    '}',
    'console.log(sign(1))',
    ''
  ].join('\n'))
  // As tap starts a test file: source maps on, tap's coverage recorder (@tapjs/processinfo), then tsx. The recorder
  // writes dir/.tap/coverage/*.json with the source map Node kept, and that map's sourcesContent is [null].
  const recorder = pathToFileURL(path.join(ROOT, 'node_modules/@tapjs/processinfo/dist/esm/import.mjs')).href
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(_TAPJS_|TAP_|NODE_V8_COVERAGE$|NODE_OPTIONS$)/.test(name)))
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['--enable-source-maps', `--import=${recorder}`, '--import', import.meta.resolve('tsx'), 'branchy.ts'], {
      cwd: dir,
      env: { ...env, _TAPJS_PROCESSINFO_COVERAGE_: '1', _TAPJS_PROCESSINFO_CWD_: dir, _TAPJS_PROCESSINFO_COV_FILES_: path.join(dir, 'branchy.ts') },
      stdio: 'ignore'
    })
    child.once('error', reject)
    child.once('exit', (code) => { code === 0 ? resolve() : reject(new Error(`exit ${code}`)) })
  })
  const coverageDir = path.join(dir, '.tap/coverage')
  t.ok(readdirSync(coverageDir).length > 0, 'the recorder wrote coverage')
  const summarize = async (): Promise<Summary> => {
    const { Report } = await import(path.join(ROOT, 'node_modules/c8/index.js')) as { Report: new (options: Record<string, unknown>) => C8Report }
    const report = new Report({ tempDirectory: coverageDir, reportsDirectory: path.join(dir, 'report'), reporter: [], excludeNodeModules: true, exclude: [], include: [], allowExternal: true })
    const map = await report.getCoverageMapFromAllCoverageFiles()
    return map.fileCoverageFor(path.join(dir, 'branchy.ts')).toSummary()
  }
  const before = await summarize()
  t.equal(before.lines.total, 1, 'as the recorder leaves it, the file is one line (the bug)')
  t.equal(mendSourceMaps(coverageDir), 1, 'the run was mended')
  const after = await summarize()
  t.ok(after.lines.total >= 5, `${after.lines.total} lines counted`)
  t.ok(after.branches.total >= 2 && after.branches.covered < after.branches.total, 'the branch not taken is counted as missed')
})
