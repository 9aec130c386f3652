// `npm test`: the whole suite with coverage over src/ (scripts/coverage-map.mjs), then a text summary held to the
// floor in package.json (tap "statements", "branches", "functions", "lines"), so coverage cannot fall silently.
// The per-file table, after a run: `npx tap report text`.
//   node scripts/test-with-coverage.mjs [TAP ARGS...]
// With arguments (a subset of files, --grep...) the summary is printed but not held to the floor: a part of the suite
// cannot reach the whole suite's figure. `npx tap FILE` runs without coverage (package.json: "disable-coverage").
//
// Why three steps and not tap alone: tsx hands Node source maps whose sourcesContent is [null], and v8-to-istanbul
// (through c8) takes a one-entry sourcesContent as the original text even when it is null, so every TypeScript file
// would be reported as one covered line (100 % of nothing). Between the run and the report, the empty
// sourcesContent is dropped, and the report reads the original files from disk.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(path.join(ROOT, 'package.json'))
const TAP = path.join(path.dirname(require.resolve('tap/package.json')), require('tap/package.json').bin.tap)

function tap (args) {
  const run = spawnSync(process.execPath, [TAP, ...args], { cwd: ROOT, stdio: 'inherit' })
  if (run.error) throw run.error
  return run.status ?? 1
}

/** Drops the [null] sourcesContent of every source map tsx left in the run's V8 coverage files. */
export function mendSourceMaps (dir) {
  let mended = 0
  for (const name of readdirSync(dir).filter((file) => file.endsWith('.json'))) {
    const file = path.join(dir, name)
    const coverage = JSON.parse(readFileSync(file, 'utf8'))
    let changed = false
    for (const entry of Object.values(coverage['source-map-cache'] ?? {})) {
      const content = entry?.data?.sourcesContent
      if (Array.isArray(content) && content.every((text) => text === null)) {
        delete entry.data.sourcesContent
        changed = true
      }
    }
    if (changed) {
      writeFileSync(file, JSON.stringify(coverage))
      mended++
    }
  }
  return mended
}

/**
 * The figures under the floor, as messages. tap's own check (`tap report` without --allow-incomplete-coverage) would
 * also fail, but it prints a second, empty "# { total: 0 }" line after the run's, which is the line CI reads.
 */
export function underFloor (summary, floor) {
  return Object.entries(floor)
    .filter(([kind, minimum]) => typeof minimum === 'number' && summary[kind].pct < minimum)
    .map(([kind, minimum]) => `${kind} coverage ${summary[kind].pct} % is under the floor of ${minimum} % (package.json, tap "${kind}")`)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2)
  // A subset may load no src/ file at all (a test of a test helper): that is no failure of the subset.
  const subset = args.length > 0 ? ['--allow-empty-coverage'] : []
  // Floors of 0 for tap itself: its own check would comment on the unmended figures, and its report would print a
  // second, empty "# { total: 0 }" line after the run's (the line CI reads). The floor is checked at the end.
  const noFloor = ['--statements=0', '--branches=0', '--functions=0', '--lines=0']
  const status = tap(['--no-disable-coverage', '--coverage-report=none', '--allow-incomplete-coverage', ...noFloor, ...subset, ...args])
  // The summary is printed after a failing run too (it is still what ran); the run's failure decides the exit code.
  if (existsSync(path.join(ROOT, '.tap/coverage'))) mendSourceMaps(path.join(ROOT, '.tap/coverage'))
  const reported = tap(['report', 'text-summary', 'json-summary', '--allow-incomplete-coverage', ...noFloor, ...subset])
  if (status !== 0) process.exit(status)
  if (reported !== 0) process.exit(reported)
  if (args.length > 0) process.exit(0)
  const { tap: config } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
  const { total } = JSON.parse(readFileSync(path.join(ROOT, '.tap/report/coverage-summary.json'), 'utf8'))
  const floor = Object.fromEntries(['statements', 'branches', 'functions', 'lines'].map((kind) => [kind, config[kind]]))
  const failures = underFloor(total, floor)
  for (const failure of failures) process.stderr.write(`${failure}\n`)
  process.exit(failures.length > 0 ? 1 : 0)
}
