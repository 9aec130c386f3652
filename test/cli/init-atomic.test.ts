/**
 * Issue 24 §5: `init` writes nothing until every step passed, and leaves nothing behind on any exit. Ctrl-C during
 * verification left `*.init-PID.tmp`; `init | head -1` exited 0 with nothing stored; a symlinked `--config` was
 * replaced by a regular file with another mode; parallel `init`s lost entries; `check` ("never writes") wrote
 * `sites.json`.
 */
import { chmodSync, lstatSync, readFileSync, readdirSync, realpathSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { cliEnv, runCli, startCli } from '../helpers/cli.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'

const MASTER = 'init-atomic-master-key-passphrase'
const CLOUD_ID = '0a1b2c3d-0000-4000-8000-000000000003'
const SECRET = 'init-atomic-client-secret-0123456789'
const SITE = 'acme.atlassian.net'
const CREDENTIAL = JSON.stringify({ client_id: 'atomic-client', client_secret: SECRET })

async function setup (
  t: Test,
  options: { slowTokenDelayMs?: number } = {}
): Promise<{ fake: FakeAtlassian, dir: string, file: string, env: NodeJS.ProcessEnv }> {
  const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: CLOUD_ID }], ...options })
  fake.setSiteName(SITE, CLOUD_ID)
  fake.addClient('atomic-client', SECRET)
  const dir = t.testdir({})
  const file = path.join(dir, 'atlassian-broker.yaml')
  writeFileSync(
    file,
    `dataDir: ./data
atlassian: { tokenUrl: ${fake.tokenUrl}, apiUrl: ${fake.url}, siteUrl: "${fake.siteUrl}" }
`
  )
  return { fake, dir, file, env: cliEnv({ BROKER_MASTER_KEY: MASTER }) }
}

const initArgs = (integration: string): string[] => ['init', '--integration', integration, '--site', SITE, '--product', 'jira', '--caller', 'report-job']

t.test('regression: Ctrl-C during verification leaves nothing behind', async (t) => {
  const { fake, dir, file, env } = await setup(t, { slowTokenDelayMs: 120_000 })
  fake.tokenEndpointMode = 'slow'
  const before = readFileSync(file, 'utf8')
  const child = startCli(initArgs('jira-main'), { cwd: dir, env })
  t.teardown(() => { child.kill('SIGKILL') })
  child.stdin?.end(CREDENTIAL)
  const closed = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })))
  // Verification has started once the token exchange reached the fake; it answers only after the test ends.
  while (fake.exchanges === 0 && child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 20))
  child.kill('SIGINT')
  const { code, signal } = await closed
  t.equal(signal, 'SIGINT', `ended by the signal (code ${code})`)
  t.equal(readFileSync(file, 'utf8'), before, 'the config is untouched')
  t.same(readdirSync(dir), ['atlassian-broker.yaml'], 'no temp file, no data folder, no sites.json')
})

t.test('regression: init | head -1 still stores everything and exits 0', async (t) => {
  const { dir, file, env } = await setup(t)
  const child = startCli(initArgs('jira-main'), { cwd: dir, env })
  // The reader is gone before init writes its first line, as `head -1` is after the first.
  child.stdout?.destroy()
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  child.stdin?.end(CREDENTIAL)
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  t.equal(code, 0, stderr)
  t.notMatch(stderr, /EPIPE|Error/)
  t.match(readFileSync(file, 'utf8'), /jira-main:\n\s+product: jira/)
  const history = await runCli(['secrets', 'history', 'jira-main', '--json'], { cwd: dir, env })
  t.match(JSON.parse(history.stdout), { currentVersion: 1 })
  t.same(readdirSync(dir).sort(), ['atlassian-broker.yaml', 'data'])
  t.same(readdirSync(path.join(dir, 'data')).sort(), ['caller-signing.key', 'secrets.enc', 'sites.json'], 'the store is in dataDir; no temp or lock file')
})

t.test('a symlinked --config is written through the link: link kept, target updated, its mode kept', async (t) => {
  const { dir, file, env } = await setup(t)
  const target = path.join(dir, 'real-config.yaml')
  writeFileSync(target, readFileSync(file))
  chmodSync(target, 0o640)
  const link = path.join(dir, 'linked.yaml')
  symlinkSync('real-config.yaml', link)
  // Run as `npm run cli -- init` runs it in a clone.
  const result = await runCli([...initArgs('jira-main'), '--config', link], { cwd: dir, env: { ...env, npm_lifecycle_event: 'cli' }, stdin: CREDENTIAL })
  t.equal(result.code, 0, result.stderr)
  t.match(result.stdout, `\n  npm start -- --config ${link}\n`, 'issue 24 §7: in a clone the start line is npm start')
  t.match(result.stdout, '`npm run --silent cli -- caller-token --sub report-job` mints more')
  t.ok(lstatSync(link).isSymbolicLink(), 'the link is still a link')
  t.equal(realpathSync(link), target)
  t.match(readFileSync(target, 'utf8'), /jira-main:\n\s+product: jira/)
  t.equal(statSync(target).mode & 0o777, 0o640, 'the target keeps its mode')
})

t.test('regression: three parallel inits keep all three integrations and credentials', async (t) => {
  const { dir, file, env } = await setup(t)
  const names = ['jira-a', 'jira-b', 'jira-c']
  const results = await Promise.all(names.map((name) => runCli(initArgs(name), { cwd: dir, env, stdin: CREDENTIAL })))
  for (const result of results) t.equal(result.code, 0, result.stderr)
  const text = readFileSync(file, 'utf8')
  for (const name of names) t.match(text, new RegExp(`${name}:\\n\\s+product: jira`), `${name} is in the config`)
  const list = await runCli(['secrets', 'list', '--json'], { cwd: dir, env })
  const rows = JSON.parse(list.stdout) as Array<{ integration: string, version?: number }>
  t.same(rows.map((row) => [row.integration, row.version]).sort(), names.map((name) => [name, 1]), 'each credential is stored once')
})

t.test('regression: check writes nothing, not even sites.json', async (t) => {
  const { dir, file, env } = await setup(t)
  writeFileSync(file, `${readFileSync(file, 'utf8')}integrations: { jira-main: { product: jira, site: ${SITE} } }\npolicy: [{ caller: job, integration: jira-main, methods: [GET], paths: ['/**'] }]\n`)
  const result = await runCli(['check'], { cwd: dir, env })
  t.match(result.stdout, `✔ site ${SITE}: cloudId ${CLOUD_ID}`)
  t.same(readdirSync(dir), ['atlassian-broker.yaml'], 'no data folder, no sites.json')
})
