/** The command line a newcomer uses: serve on defaults, secrets put/list, caller-token, config errors, SIGTERM. */
import { statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { createVerifier } from 'fast-jwt'
import t from 'tap'
import { request } from 'undici'
import { stringify } from 'yaml'
import { cliEnv, runCli, startCli, waitForLine } from '../helpers/cli.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'

const CLOUD_ID = '11111111-1111-1111-1111-111111111111'
const SECRET = 'cli-test-client-secret-9f8e7d'
const MASTER = 'cli-test-master-key-passphrase'

function writeConfig (dir: string, fake: FakeAtlassian, extra: Record<string, unknown> = {}): string {
  const file = path.join(dir, 'atlassian-broker.yaml')
  writeFileSync(file, stringify({
    listen: { host: '127.0.0.1', port: 0 },
    atlassian: { tokenUrl: fake.tokenUrl, apiUrl: fake.url },
    integrations: { 'jira-main': { product: 'jira', cloudId: CLOUD_ID, credential: 'oauth' } },
    policy: [{ caller: 'report-job', integration: 'jira-main', methods: ['GET'], paths: ['/rest/api/3/**'] }],
    ...extra
  }))
  return file
}

t.test('serve comes up with no config at all and says what to do next', async (t) => {
  const dir = t.testdir({})
  const child = startCli(['serve'], { cwd: dir })
  t.teardown(() => { child.kill('SIGKILL') })
  const line = await waitForLine(child, /listening on/)
  const record = JSON.parse(line) as { url: string, config: string, secretStore: { kind: string, path: string } }
  t.equal(record.config, 'built-in defaults')
  t.equal(record.secretStore.kind, 'file')
  t.match(record.url, /^http:\/\/127\.0\.0\.1:8787$/)
  const next = await waitForLine(child, /next: /)
  t.match(next, /npx atlassian-broker init /, 'names init, runnable from a clone')
  t.match(next, /npx atlassian-broker secrets put/)
  t.match(next, /npx atlassian-broker caller-token/)
  t.notMatch(next, /[^x] atlassian-broker (secrets|caller-token|init)/, 'never a bare atlassian-broker, which is not on PATH')
  const health = await request(`${record.url}/healthz`)
  t.same(await health.body.json(), { status: 'ok' })
  const ready = await request(`${record.url}/readyz`)
  t.equal(ready.statusCode, 200)
  await ready.body.dump()
  t.equal(statSync(path.join(dir, '.broker', 'caller-signing.key')).mode & 0o777, 0o600, 'generated caller key is 0600')
  child.kill('SIGTERM')
  const code = await new Promise((resolve) => child.on('exit', resolve))
  t.equal(code, 0, 'SIGTERM exits 0')
})

t.test('secrets put / list and caller-token, following the README', async (t) => {
  const dir = t.testdir({})
  const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: CLOUD_ID }] })
  fake.addClient('cid', SECRET)
  const config = writeConfig(dir, fake)
  const env = cliEnv({ BROKER_MASTER_KEY: MASTER })
  const put = await runCli(['secrets', 'put', 'jira-main', '--expires-at', '2027-01-31', '--owner', 'platform'], { cwd: dir, env, stdin: JSON.stringify({ client_id: 'cid', client_secret: SECRET }) })
  t.equal(put.code, 0, put.stderr)
  t.match(put.stdout, /Verified the oauth credential of jira-main with one exchange at the token endpoint and one read \(GET \/rest\/api\/3\/myself answered 200\)\.\nStored the oauth credential of jira-main as version 1\./)
  const list = await runCli(['secrets', 'list', '--json'], { cwd: dir, env })
  t.equal(list.code, 0, list.stderr)
  const rows = JSON.parse(list.stdout) as Array<Record<string, unknown>>
  t.match(rows[0], { integration: 'jira-main', version: 1, state: 'stored', expiresAt: '2027-01-31T00:00:00.000Z' })
  t.notOk(list.stdout.includes(SECRET) || put.stdout.includes(SECRET), 'the secret is never printed')
  const table = await runCli(['secrets', 'list'], { cwd: dir, env })
  t.match(table.stdout, /INTEGRATION\s+VERSION/)

  const token = await runCli(['caller-token', '--sub', 'report-job', '--ttl', '5m', '--config', config], { cwd: dir, env })
  t.equal(token.code, 0, token.stderr)
  const keyFile = path.join(dir, '.broker', 'caller-signing.key')
  const { readFileSync } = await import('node:fs')
  const claims = createVerifier({ key: readFileSync(keyFile, 'utf8').trim(), allowedAud: 'atlassian-broker' })(token.stdout.trim()) as { sub: string, exp: number }
  t.equal(claims.sub, 'report-job')
  t.ok(claims.exp - Date.now() / 1000 <= 300)
})

t.test('bad input: clear errors, exit 2, the secret never echoed', async (t) => {
  const dir = t.testdir({})
  const fake = await FakeAtlassian.start({ t })
  writeConfig(dir, fake)
  const env = cliEnv({ BROKER_MASTER_KEY: MASTER })
  const notJson = await runCli(['secrets', 'put', 'jira-main'], { cwd: dir, env, stdin: `{client_secret: ${SECRET}` })
  t.equal(notJson.code, 2)
  t.match(notJson.stderr, /not valid JSON/)
  t.notOk(notJson.stderr.includes(SECRET))
  const wrongShape = await runCli(['secrets', 'put', 'jira-main'], { cwd: dir, env, stdin: JSON.stringify({ client_id: 'x', secret: SECRET }) })
  t.not(wrongShape.code, 0)
  t.match(wrongShape.stderr, /client_secret/)
  t.notOk(wrongShape.stderr.includes(SECRET))
  const unknown = await runCli(['secrets', 'put', 'nope'], { cwd: dir, env, stdin: '{}' })
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /integration "nope" is not in the config \(known: jira-main\)/)

  writeFileSync(path.join(dir, 'bad.yaml'), stringify({
    listen: { port: 'eighty' },
    integrations: { 'jira-main': { product: 'bitbucket', cloudId: 'not-a-uuid' } },
    policy: [{ caller: 'x', integration: 'missing', methods: ['GET'], paths: ['no-slash'] }],
    callers: { jwt: { hs256Secret: '${UNSET_SECRET_VAR}' } }
  }))
  const bad = await runCli(['serve', '--config', 'bad.yaml'], { cwd: dir, env })
  t.equal(bad.code, 2)
  for (const problem of ['listen.port', 'integrations.jira-main.product', 'integrations.jira-main.cloudId', 'policy.0.paths.0', 'UNSET_SECRET_VAR']) {
    t.match(bad.stderr, problem, `reports ${problem}`)
  }
})

t.test('regression: `secrets put constructor` reached "unknown credential kind"; a prototype name is an unknown integration', async (t) => {
  const dir = t.testdir({})
  const fake = await FakeAtlassian.start({ t })
  writeConfig(dir, fake)
  const env = cliEnv({ BROKER_MASTER_KEY: MASTER })
  // Each spawn costs seconds: put for every name (the reported bug), rotate once (the same lookup, integrationNamed).
  const commands = [['put', 'constructor'], ['put', '__proto__'], ['put', 'toString'], ['rotate', 'constructor']]
  for (const [command = '', name = ''] of commands) {
    const result = await runCli(['secrets', command, name], { cwd: dir, env, stdin: JSON.stringify({ client_id: 'cid', client_secret: SECRET }) })
    t.equal(result.code, 2, `secrets ${command} ${name}: a usage error`)
    t.match(result.stderr, `integration "${name}" is not in the config (known: jira-main)`, `secrets ${command} ${name}: the CLI's usual answer`)
    t.notMatch(result.stderr, /credential kind/)
  }
  t.equal(fake.exchanges, 0, 'nothing was sent to Atlassian')
})

t.test('SIGTERM lets an in-flight request finish, then exits 0', async (t) => {
  const dir = t.testdir({})
  const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: CLOUD_ID }] })
  fake.addClient('cid', SECRET)
  writeConfig(dir, fake, { callers: { jwt: { hs256Secret: 'sigterm-test-caller-secret-0123456789abcdef' } } })
  const env = cliEnv({ BROKER_MASTER_KEY: MASTER })
  await runCli(['secrets', 'put', 'jira-main'], { cwd: dir, env, stdin: JSON.stringify({ client_id: 'cid', client_secret: SECRET }) })
  const token = (await runCli(['caller-token', '--sub', 'report-job'], { cwd: dir, env })).stdout.trim()
  const child = startCli(['serve'], { cwd: dir, env })
  t.teardown(() => { child.kill('SIGKILL') })
  const { url } = JSON.parse(await waitForLine(child, /listening on/)) as { url: string }
  fake.setNextResponses(/slow-report/, [{ status: 200, body: { done: true }, delayMs: 1_500 }])
  const inFlight = request(`${url}/proxy/jira-main/rest/api/3/slow-report`, { headers: { authorization: `Bearer ${token}` } })
  while (!fake.requests.some((r) => r.path.includes('slow-report'))) await new Promise((resolve) => setTimeout(resolve, 20))
  child.kill('SIGTERM')
  const response = await inFlight
  t.equal(response.statusCode, 200, 'the in-flight request was not cut short')
  t.same(await response.body.json(), { done: true })
  const code = await new Promise((resolve) => child.on('exit', resolve))
  t.equal(code, 0)
})

t.test('check is wired into the command line', async (t) => {
  const dir = t.testdir({ 'bad.yaml': 'integrations:\n  jira-main: { product: jira, cloudId: nope }\n' })
  const bad = await runCli(['check', '--offline', '--config', 'bad.yaml'], { cwd: dir })
  t.equal(bad.code, 1)
  t.match(bad.stdout + bad.stderr, /cloudId/)
  const good = await runCli(['check', '--offline'], { cwd: dir })
  t.equal(good.code, 0, good.stdout + good.stderr)
  t.match(good.stdout, /All checks passed/)
})
