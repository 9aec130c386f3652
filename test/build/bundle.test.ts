/**
 * What `npm start`, the bin and the image run is the esbuild bundle (scripts/bundle.mjs, issue 26's footprint): the
 * real script bundles src/ into a temp folder here, and that bundle must serve like the sources do. Its folder gets a
 * node_modules link, as dist/broker finds the package's node_modules above it, for the packages left external.
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { cliEnv, runCli, startCli, waitForLine } from '../helpers/cli.js'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const TRACE = fileURLToPath(new URL('../helpers/module-trace.mjs', import.meta.url))
const MASTER = '6a1f0c9e3b7d52a8e4c1f0b9a7d6e5c4b3a29180f7e6d5c4b3a2918070605040'

const work = mkdtempSync(path.join(tmpdir(), 'bundle-'))
t.teardown(() => { rmSync(work, { recursive: true, force: true }) })
const out = path.join(work, 'broker')
symlinkSync(path.join(ROOT, 'node_modules'), path.join(work, 'node_modules'), 'dir')
await run(process.execPath, ['scripts/bundle.mjs', out], { cwd: ROOT })
const entry = path.join(out, 'main.js')

t.test('the bundle holds the entry, its chunks and the ops page\'s files, flat', async (t) => {
  const files = readdirSync(out)
  t.ok(existsSync(entry), 'main.js')
  t.ok(files.some((name) => /^chunk-[A-Z0-9]+\.js$/.test(name)), 'lazy imports stay split into chunks')
  for (const asset of ['ops-page.html', 'ops-page.css', 'ops-page-app.js']) t.ok(files.includes(asset), asset)
  t.notOk(files.some((name) => name.endsWith('.ts')), 'no TypeScript')
  // Tree-shaken: zod's 40 locales (its namespace re-exports them) are not in what serve loads.
  const code = files.filter((name) => name.endsWith('.js')).map((name) => readFileSync(path.join(out, name), 'utf8')).join('\n')
  t.notMatch(code, /Ungültige Eingabe|Entrada inválida/, 'no zod locale but English')
  // Regression: esbuild's keepNames wrapped every closure created in a `__name()` call, 10% of a proxied call's CPU.
  t.notMatch(code, /__name\(/, 'names kept by not renaming, not by a wrapper')
  // `var CredentialWriter=class{…}`: the class takes its name from the binding, as written.
  t.match(code, /\bCredentialWriter=class\b|\bclass CredentialWriter\b/, 'class names as written')
})

t.test('serve from the bundle: ready, the ops page, a caller refused with a problem; bundled packages load once', async (t) => {
  const dir = t.testdir({})
  const trace = path.join(dir, 'modules.txt')
  const env = { ...cliEnv({ BROKER_MASTER_KEY: MASTER, MODULE_TRACE_FILE: trace }), NODE_OPTIONS: `--import=${TRACE}` }
  const child = startCli(['serve', '--port', '0'], { cwd: dir, env, entry })
  t.teardown(() => { child.kill('SIGKILL') })
  const listening = await waitForLine(child, /listening on/)
  const base = /http:\/\/127\.0\.0\.1:\d+/.exec(listening)?.[0] ?? ''

  t.equal((await fetch(`${base}/readyz`)).status, 200, 'ready')
  const page = await fetch(`${base}/admin`)
  t.equal(page.status, 200, 'the ops page: its assets were found beside the chunks')
  t.match(await page.text(), /<script>[\s\S]+<\/script>/, 'with its scripts inlined')

  const minted = await runCli(['caller-token', '--sub', 'report-job'], { cwd: dir, env: cliEnv({ BROKER_MASTER_KEY: MASTER }), entry })
  t.equal(minted.code, 0, `the bundle's caller-token command: ${minted.stderr}`)
  const token = minted.stdout.trim()
  const refused = await fetch(`${base}/proxy/jira-main/rest/api/3/myself`, { headers: { authorization: `Bearer ${token}` } })
  t.match(refused.headers.get('content-type'), /json/)
  const problem = await refused.json() as { code?: string }
  t.match(problem.code, /^BROKER_ERR_/, `a problem with a stable code (${refused.status})`)
  t.notMatch(JSON.stringify(problem), token, 'the caller\'s JWT is not echoed')

  child.kill('SIGTERM')
  t.equal(await new Promise((resolve) => child.on('exit', resolve)), 0, 'stopped cleanly')
  const loaded = readFileSync(trace, 'utf8').split('\n').filter((line) => line !== '')
  const packages = new Set(loaded.map((file) => /node_modules[/\\]((?:@[^/\\]+[/\\])?[^/\\]+)/.exec(file)?.[1]))
  for (const bundled of ['fastify', 'find-my-way', 'avvio', 'pino', 'zod', '@fastify/jwt', 'fast-jwt', 'lru-cache']) {
    t.notOk(packages.has(bundled), `${bundled} comes from the bundle`)
  }
  // Left external and still loaded only on demand (scripts/bundle.mjs): undici waits for a first upstream call, which
  // a refusal never makes; prom-client's deep modules load, without its index.
  for (const lazy of ['node-vault', 'ioredis', '@modelcontextprotocol/sdk', 'yaml', '@fastify/ajv-compiler', 'undici', 'light-my-request']) {
    t.notOk(packages.has(lazy), `${lazy} not loaded`)
  }
  t.ok(packages.has('prom-client'), 'prom-client\'s registry, from node_modules')
  t.notOk(loaded.some((file) => /prom-client[/\\]index\.js$/.test(file)), 'no prom-client index')
  t.notOk(loaded.some((file) => /[/\\]src[/\\]/.test(file)), 'no source module')
})
