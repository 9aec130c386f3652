/**
 * The ops page's HTML, CSS and JS are files, not strings in TypeScript: tsc does not emit them, so the build copies
 * them (scripts/copy-assets.mjs, run by `npm run build`) and dist/ serves the same page as src/. The real script runs
 * here into a temp folder, as the build runs it into dist/src, and flat as the bundle (scripts/bundle.mjs) runs it.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { buildOpsPage, loadOpsPage } from '../../src/http/ops-page/ops-page.js'
import { CALL_OUTCOMES } from '../../src/usage/call-outcome.js'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const PAGE_DIR = new URL('../../src/http/ops-page/', import.meta.url)
const ASSETS = ['ops-page.html', 'ops-page.css', 'ops-page-render.js', 'ops-page-hour.js', 'ops-page-credentials.js', 'ops-page-app.js']

t.test('npm run build copies the page\'s files: the copy serves the same page', async (t) => {
  const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>, files: string[] }
  t.match(manifest.scripts.build, /node scripts\/copy-assets\.mjs/, 'the build script runs the copy')
  t.match(manifest.scripts.build, /node scripts\/bundle\.mjs/, 'and the bundle, which copies them beside its chunks')
  t.ok(manifest.files.includes('dist/broker'), 'the package ships dist/broker, the bundle')
  const out = mkdtempSync(path.join(tmpdir(), 'assets-'))
  t.teardown(() => { rmSync(out, { recursive: true, force: true }) })
  await run(process.execPath, ['scripts/copy-assets.mjs', 'src', out], { cwd: ROOT })
  t.same(readdirSync(path.join(out, 'http/ops-page')).sort(), [...ASSETS].sort(), 'the assets, and no TypeScript')
  const modules = readdirSync(fileURLToPath(PAGE_DIR)).filter((name) => name.endsWith('.ts'))
  t.notOk(modules.some((name) => ASSETS.includes(name.replace(/\.ts$/, '.js'))),
    'regression: a browser script named ops-page.js overwrote the compiled ops-page.ts in dist/')
  const fromCopy = await buildOpsPage(pathToFileURL(path.join(out, 'http/ops-page/')))
  t.same(fromCopy, await buildOpsPage(PAGE_DIR))
})

t.test('flat into the bundle\'s folder: the same page, and never over a chunk', async (t) => {
  const out = mkdtempSync(path.join(tmpdir(), 'assets-flat-'))
  t.teardown(() => { rmSync(out, { recursive: true, force: true }) })
  // @ts-expect-error: a plain .mjs build script, without type declarations
  const { copyAssets } = await import('../../scripts/copy-assets.mjs') as { copyAssets: (from: string, to: string, options: { flat: boolean }) => number }
  t.equal(copyAssets(path.join(ROOT, 'src'), out, { flat: true }), ASSETS.length)
  t.same(readdirSync(out).sort(), [...ASSETS].sort(), 'no folders')
  t.same(await buildOpsPage(pathToFileURL(`${out}/`)), await buildOpsPage(PAGE_DIR))
  const bundle = mkdtempSync(path.join(tmpdir(), 'assets-chunk-'))
  t.teardown(() => { rmSync(bundle, { recursive: true, force: true }) })
  writeFileSync(path.join(bundle, 'ops-page-app.js'), 'a chunk')
  t.throws(() => copyAssets(path.join(ROOT, 'src'), bundle, { flat: true }), /ops-page-app\.js already exists in the bundle/)
  t.equal(readFileSync(path.join(bundle, 'ops-page-app.js'), 'utf8'), 'a chunk', 'left as it was')
})

t.test('the CSP hashes are the files\' own text; the scripts and style are inlined whole', async (t) => {
  const page = await loadOpsPage()
  t.equal(await loadOpsPage(), page, 'read once, then kept')
  const sha = (name: string): string => `'sha256-${createHash('sha256').update(readFileSync(new URL(name, PAGE_DIR), 'utf8')).digest('base64')}'`
  const scripts = ASSETS.filter((name) => name.endsWith('.js'))
  t.match(page.csp, `script-src ${scripts.map(sha).join(' ')};`, 'every script, in page order')
  t.match(page.csp, `style-src ${sha('ops-page.css')};`)
  for (const name of ASSETS.filter((name) => name !== 'ops-page.html')) {
    t.ok(page.html.includes(readFileSync(new URL(name, PAGE_DIR), 'utf8')), `${name} is in the page`)
  }
  t.notMatch(page.html, / data-asset="/, 'every asset element was filled')
  const config = /<script type="application\/json" id="page-config">(.*?)<\/script>/.exec(page.html)?.[1]
  t.match(JSON.parse(config ?? '{}'), { outcomes: CALL_OUTCOMES, refreshMs: 5_000 }, 'the server\'s own outcome list, as data')
})

t.test('the CSS has a colour and a class for every call outcome', async (t) => {
  const css = readFileSync(new URL('ops-page.css', PAGE_DIR), 'utf8')
  for (const outcome of CALL_OUTCOMES) {
    t.match(css, `--o-${outcome}:`, `--o-${outcome}`)
    t.match(css, `.o-${outcome} { background: var(--o-${outcome}); }`, `.o-${outcome}`)
  }
})
