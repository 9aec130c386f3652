/**
 * openapi.yaml against a live broker with schemathesis 4 (pinned in test/interop/python/requirements.txt, from PyPI,
 * in the cached venv): every check (`--checks all`), every phase, the fake Atlassian as upstream. A modest number of
 * cases per operation and a fixed seed keep it to a couple of minutes and reproducible; `st run --seed` with the same
 * options replays a failure. The caller token has the admin role, so the admin API is tested too.
 */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { parse } from 'yaml'
import { CLIENT_SECRET, startHarness } from '../helpers/broker-harness.js'
import { pythonTools } from '../helpers/python-tools.js'

const run = promisify(execFile)
const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url))
const SPEC = here('../../openapi.yaml')
const CONFIG = here('./schemathesis/schemathesis.toml')
const HOOKS = here('./schemathesis/hooks.py')
/** Per operation; with the coverage phase's own cases this is about 1,500 requests. */
const MAX_EXAMPLES = 60
const SEED = 20261204

t.test('schemathesis --checks all: openapi.yaml and the broker agree', async (t) => {
  const tools = await pythonTools()
  if (!tools.ok) { t.plan(0, tools.skip); return }
  const h = await startHarness(t, {
    config: { callers: { jwt: { audience: 'atlassian-broker', hs256Secret: 'test-caller-secret-0123456789-abcdefghijklmnop' }, admin: { role: 'broker-admin' } } }
  })
  const token = h.callerToken('report-job', { roles: ['broker-admin'] }, 3600)
  const workdir = t.testdir({})
  const args = [
    '--config-file', CONFIG, 'run', SPEC,
    '--url', h.url,
    '--checks', 'all',
    '--max-examples', String(MAX_EXAMPLES),
    '--seed', String(SEED),
    '--workers', '2',
    '--header', `Authorization: Bearer ${token}`,
    '--generation-database', 'none',
    '--no-color'
  ]
  let output: string
  let code = 0
  try {
    ({ stdout: output } = await run(tools.bin('st'), args, {
      cwd: workdir,
      env: { PATH: process.env.PATH, HOME: workdir, NO_PROXY: '127.0.0.1', SCHEMATHESIS_HOOKS: HOOKS, PYTHONDONTWRITEBYTECODE: '1' },
      timeout: 600_000,
      maxBuffer: 64 * 1024 * 1024
    }))
  } catch (error) {
    const failed = error as { code?: number, stdout?: string, stderr?: string }
    code = failed.code ?? -1
    output = `${failed.stdout ?? ''}\n${failed.stderr ?? ''}`
  }
  const summary = /^=+ (.*) in [\d.]+s =+$/m.exec(output)?.[1] ?? '(no summary line)'
  if (code !== 0) t.comment(output.split('\n').map((line) => line.slice(0, 400)).join('\n'))
  t.equal(code, 0, `schemathesis passes every check: ${summary}`)
  const operations = declaredOperations()
  const tested = declaredOperations((route) => !LEFT_TO_MCP_CLIENTS.has(route))
  t.ok(tested < operations, 'the /mcp operations are declared in openapi.yaml')
  t.match(output, new RegExp(`Selected: ${tested}/${operations}`), `every operation of openapi.yaml but /mcp's (${tested} of ${operations}) was tested`)
  t.notMatch(output, /Runtime Error|Network Error/, 'no case ended in an error')
  const generated = Number(/Test cases:\s*\n\s*(\d+) generated/.exec(output)?.[1] ?? 0)
  t.ok(generated >= 500, `${generated} cases generated`)
  t.notOk(output.includes(token) || output.includes(CLIENT_SECRET), 'the report repeats no token or secret')
  t.notOk(h.logs.some((line) => line.includes(token) || line.includes(CLIENT_SECRET)), 'the broker logged no token or secret')
})

/** JSON-RPC after authentication: test/mcp/ drives these with two real MCP clients (disabled in schemathesis.toml). */
const LEFT_TO_MCP_CLIENTS = new Set(['/mcp'])

/** How many operations openapi.yaml declares (path × HTTP method), so a new route cannot go untested. */
function declaredOperations (include: (route: string) => boolean = () => true): number {
  const spec = parse(readFileSync(here('../../openapi.yaml'), 'utf8')) as { paths: Record<string, Record<string, unknown>> }
  const methods = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'])
  return Object.entries(spec.paths).filter(([route]) => include(route)).reduce(
    (total, [, item]) => total + Object.keys(item).filter((key) => methods.has(key)).length,
    0
  )
}
