import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { createBroker } from '../../src/broker.js'
import { loadConfig } from '../../src/config/load.js'
import { createLogger } from '../../src/logger.js'
import { extendConfigText } from '../../src/cli/init-config-file.js'
import { cliEnv, runCli } from '../helpers/cli.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'

const execFileAsync = promisify(execFile)
const MASTER = 'init-test-master-key-passphrase'
const CLOUD_ID = '0a1b2c3d-0000-4000-8000-000000000001'
const SECRET = 'init-client-secret-XYZ0123456789'
const SITE = 'acme.atlassian.net'

async function setup (t: Test): Promise<{ fake: FakeAtlassian, dir: string, file: string, env: NodeJS.ProcessEnv }> {
  const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: CLOUD_ID }] })
  fake.setSiteName(SITE, CLOUD_ID)
  fake.addClient('init-client', SECRET)
  const dir = t.testdir({})
  const file = path.join(dir, 'atlassian-broker.yaml')
  writeFileSync(file, `# Our broker. Keep this comment.
listen: { host: 127.0.0.1, port: 8787 }
dataDir: ./data
atlassian:
  tokenUrl: ${fake.tokenUrl}
  apiUrl: ${fake.url}
  siteUrl: "${fake.siteUrl}" # loopback stand-in for https://{site}
integrations: {}
policy: []
`)
  return { fake, dir, file, env: cliEnv({ BROKER_MASTER_KEY: MASTER }) }
}

t.test('scripted init: site to verified, stored credential, config with comments kept, token and curl line that work', async (t) => {
  const { fake, dir, file, env } = await setup(t)
  const args = ['init', '--integration', 'jira-main', '--site', `https://${SITE}/jira/projects`, '--product', 'jira', '--caller', 'report-job']
  const before = readFileSync(file, 'utf8')
  const badReason = await runCli([...args, '--reason', 'tab\there'], { cwd: dir, env, stdin: JSON.stringify({ client_id: 'init-client', client_secret: SECRET }) })
  t.equal(badReason.code, 1)
  t.match(badReason.stderr, /BROKER_ERR_REASON_INVALID/)
  t.equal(readFileSync(file, 'utf8'), before, 'a refused reason changes nothing')
  t.equal(fake.exchanges, 0, 'and is refused before Atlassian is asked')
  const result = await runCli([...args, '--reason', 'first setup, INC-1'], { cwd: dir, env, stdin: JSON.stringify({ client_id: 'init-client', client_secret: SECRET }) })
  t.equal(result.code, 0, result.stderr)
  const history = await runCli(['secrets', 'history', 'jira-main', '--json'], { cwd: dir, env })
  t.match(JSON.parse(history.stdout), { versions: [{ version: 1, reason: 'first setup, INC-1' }] }, 'init keeps its reason with version 1')
  t.match(result.stdout, `✔ site ${SITE}: cloudId ${CLOUD_ID}`)
  t.match(result.stdout, '✔ token exchange')
  t.match(result.stdout, '✔ read: GET /rest/api/3/myself answered 200')
  t.match(result.stdout, /scopes: /)
  t.match(result.stdout, '✔ credential: stored for jira-main as version 1')
  t.notMatch(result.stdout + result.stderr, SECRET, 'the secret is never printed')
  const text = readFileSync(file, 'utf8')
  t.match(text, '# Our broker. Keep this comment.')
  t.match(text, '# loopback stand-in for https://{site}')
  t.match(text, /jira-main:\s*\n\s+product: jira\n\s+site: acme\.atlassian\.net/)
  t.notMatch(text, CLOUD_ID, 'the file names the site; the cloudId lives in the cache')
  t.same(readdirSync(dir).filter((name) => name.includes('.tmp')), [], 'no candidate file left behind')
  const token = /export BROKER_TOKEN='([\w.-]+)'/.exec(result.stdout)?.[1] ?? ''
  const curlLine = /^ {2}(printf .*curl .*)$/m.exec(result.stdout)?.[1] ?? ''
  const curlUrl = /curl .* (http:\/\/\S+)/.exec(curlLine)?.[1] ?? ''
  t.equal(curlUrl, 'http://127.0.0.1:8787/proxy/jira-main/rest/api/3/myself')
  t.notMatch(curlLine, token, 'issue 24 §6: the token is not on curl\'s command line (it reads the header from stdin)')
  t.match(result.stdout, /^ {2}node --import tsx \S*src\/cli\/main\.ts serve --config \S+atlassian-broker\.yaml$/m,
    'issue 24 §7: the start line is the command that ran init, not an `atlassian-broker` a clone does not have')
  t.notMatch(result.stdout, /^ {2}atlassian-broker serve/m)

  // The printed token and path work against a broker started from the written file (on a free port).
  const loaded = loadConfig(file, env)
  const broker = await createBroker({ ...loaded.config, listen: { host: '127.0.0.1', port: 0 } }, { logger: createLogger({ level: 'silent' }), env })
  t.teardown(() => broker.close())
  const url = await broker.app.listen({ host: '127.0.0.1', port: 0 })
  const call = await request(`${url}/proxy/jira-main/rest/api/3/myself`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(call.statusCode, 200, await call.body.text())
  // The printed lines as a shell runs them (the broker is on a free port here, not 8787).
  // Not spawnSync: the broker answering curl runs in this process.
  const shell = await execFileAsync('sh', ['-c', `export BROKER_TOKEN='${token}'\n${curlLine.replace('http://127.0.0.1:8787', url)}`], { encoding: 'utf8' })
  t.match(JSON.parse(shell.stdout), { accountType: String }, 'the printed curl line gets the service account through the broker')

  const again = await runCli(args, { cwd: dir, env, stdin: JSON.stringify({ client_id: 'init-client', client_secret: SECRET }) })
  t.equal(again.code, 0, again.stderr)
  t.match(again.stdout, 'already had jira-main and a rule for report-job')
  t.match(again.stdout, 'stored for jira-main as version 2')
  t.equal(fake.tenantInfoRequests(SITE) >= 2, true)
})

t.test('init failures say what to fix and write nothing', async (t) => {
  const { fake, dir, file, env } = await setup(t)
  const before = readFileSync(file, 'utf8')
  const base = ['init', '--integration', 'jira-main', '--product', 'jira']
  const cred = JSON.stringify({ client_id: 'init-client', client_secret: SECRET })

  const badSite = await runCli([...base, '--site', 'evil.example.com'], { cwd: dir, env, stdin: cred })
  t.equal(badSite.code, 2)
  t.match(badSite.stderr, /--site: "evil\.example\.com" must end with \.atlassian\.net/)

  const unknownSite = await runCli([...base, '--site', 'typo.atlassian.net'], { cwd: dir, env, stdin: cred })
  t.equal(unknownSite.code, 2)
  t.match(unknownSite.stderr, /typo\.atlassian\.net answered 404 to GET http:\/\/127\.0\.0\.1:\d+\/site\/typo\.atlassian\.net\/_edge\/tenant_info: no Atlassian site by that name/)
  t.notMatch(unknownSite.stderr, /fix .* first/, 'the file was fine: no hint to fix it')

  const wrongSecret = await runCli([...base, '--site', SITE], { cwd: dir, env, stdin: JSON.stringify({ client_id: 'init-client', client_secret: 'wrong-secret-value-123' }) })
  t.equal(wrongSecret.code, 1, 'a refused credential exits 1, as secrets rotate does')
  t.match(wrongSecret.stderr, /refused by Atlassian and was not stored: the token endpoint refused the client_id\/client_secret pair; check client_id\/client_secret/)
  t.notMatch(wrongSecret.stderr, 'wrong-secret-value-123')

  fake.setSiteName('org.atlassian.net', '99999999-9999-4999-8999-999999999999')
  const orgId = await runCli([...base, '--site', 'org.atlassian.net'], { cwd: dir, env, stdin: cred })
  t.equal(orgId.code, 2)
  t.match(orgId.stderr, /integration jira-main \(site org\.atlassian\.net, cloudId 9{8}-.*\): Atlassian answered 404 to the first call; the cloudId is likely wrong: an organization ID is not a cloudId/)

  const noStdin = await runCli([...base, '--site', SITE], { cwd: dir, env, stdin: '' })
  t.equal(noStdin.code, 2)
  t.match(noStdin.stderr, /stdin is not valid JSON/)

  const missing = await runCli(['init'], { cwd: dir, env, stdin: cred })
  t.equal(missing.code, 2)
  t.match(missing.stderr, /--integration NAME.*\n.*--site: give the site.*\n.*--product: jira or confluence/)

  t.equal(readFileSync(file, 'utf8'), before, 'the config file is untouched')
  t.notOk(existsSync(path.join(dir, 'data', 'secrets.enc')), 'no credential stored')
  t.same(readdirSync(dir).filter((name) => name.includes('.tmp')), [])
  t.same(readdirSync(dir), ['atlassian-broker.yaml'], 'issue 24 §5: no data folder, no sites.json, no key file, no temp file')
})

t.test('a fresh config file is written in block style with a header, and a clashing name is refused', async (t) => {
  const entry = { integration: 'wiki', site: SITE, product: 'confluence' as const, credential: 'api-token' as const, caller: 'job' }
  const { text, changes } = extendConfigText(undefined, entry)
  t.match(text, /^# atlassian-broker configuration/)
  t.match(text, 'integrations:\n  wiki:\n    product: confluence\n    site: acme.atlassian.net\n    credential: api-token\n')
  t.match(text, '    methods: [ GET ]\n    paths: [ /** ]')
  t.equal(changes.length, 2)
  t.throws(() => extendConfigText(text, { ...entry, product: 'jira' }), /integration wiki is already configured with a different product/)
  t.throws(() => extendConfigText('integrations: [1]\n', entry), /integrations: in the config file is not a map/)
})
