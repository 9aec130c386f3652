/**
 * One credential verifier (issue 23, item 1): `init` and `secrets rotate` used two probes with opposite verdicts, so
 * the same credential passed one and failed the other. Both now ask src/atlassian/credential-probe.ts.
 */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { cliEnv, runCli, type CliResult } from '../helpers/cli.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'

const MASTER = 'credential-verdict-master-key-passphrase'
const CLOUD_ID = '0a1b2c3d-0000-4000-8000-000000000077'
const SITE = 'verdict.atlassian.net'

type Cli = (args: string[], stdin?: unknown) => Promise<CliResult>

async function setup (t: Test): Promise<{ fake: FakeAtlassian, cli: Cli }> {
  const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: CLOUD_ID }] })
  fake.setSiteName(SITE, CLOUD_ID)
  const dir = t.testdir({})
  writeFileSync(path.join(dir, 'atlassian-broker.yaml'), `dataDir: ./data
atlassian:
  tokenUrl: ${fake.tokenUrl}
  apiUrl: ${fake.url}
  siteUrl: "${fake.siteUrl}"
integrations: {}
policy: []
`)
  const env = cliEnv({ BROKER_MASTER_KEY: MASTER })
  return {
    fake,
    cli: async (args, stdin) =>
      await runCli(args, { cwd: dir, env, ...(stdin === undefined ? {} : { stdin: JSON.stringify(stdin) }) })
  }
}

const init = (credential: 'oauth' | 'api-token'): string[] =>
  ['init', '--integration', 'jira-main', '--site', SITE, '--product', 'jira', '--credential', credential, '--caller', 'job']

t.test('regression: a token short of a scope passed `secrets rotate` and failed `init`; both now accept it and name the scope', async (t) => {
  const { fake, cli } = await setup(t)
  // Authenticates, but lacks read:jira-user: the gateway answers /myself with 401 "scope does not match".
  fake.addApiToken('scoped-no-user-read', { scopes: ['read:jira-work'] })
  const first = await cli(init('api-token'), { token: 'scoped-no-user-read' })
  t.equal(first.code, 0, first.stderr)
  t.match(first.stdout, /lacks the scope read:jira-user/)
  t.match(first.stdout, '✔ credential: stored for jira-main as version 1')

  const rotated = await cli(['secrets', 'rotate', 'jira-main'], { token: 'scoped-no-user-read' })
  t.equal(rotated.code, 0, rotated.stderr)
  t.match(rotated.stdout, /lacks the scope read:jira-user/)
  t.match(rotated.stdout, /Stored it as version 2 \(was 1\)/)
  t.notMatch(first.stdout + first.stderr + rotated.stdout + rotated.stderr, 'scoped-no-user-read', 'the token is never printed')
})

t.test('regression: a token without product permission (403) passed `secrets rotate` and failed `init`; both accept it with a warning', async (t) => {
  const { fake, cli } = await setup(t)
  fake.addApiToken('no-permission-token')
  fake.addRoute({ product: 'jira', path: '/rest/api/3/myself', respond: () => ({ status: 403, body: { errorMessages: ['You do not have permission.'], errors: {} } }) })
  const first = await cli(init('api-token'), { token: 'no-permission-token' })
  t.equal(first.code, 0, first.stderr)
  t.match(first.stdout, /403.*no permission/)
  const rotated = await cli(['secrets', 'rotate', 'jira-main'], { token: 'no-permission-token' })
  t.equal(rotated.code, 0, rotated.stderr)
  t.match(rotated.stdout, /403.*no permission/)
})

t.test('a refused credential: init and rotate both exit 1 with the same code, and store nothing', async (t) => {
  const { fake, cli } = await setup(t)
  fake.addApiToken('good-token')
  t.equal((await cli(init('api-token'), { token: 'good-token' })).code, 0)

  const byInit = await cli(init('api-token'), { token: 'revoked-token' })
  const byRotate = await cli(['secrets', 'rotate', 'jira-main'], { token: 'revoked-token' })
  for (const [name, result] of [['init', byInit], ['rotate', byRotate]] as const) {
    t.equal(result.code, 1, `${name}: exit 1 (README: a refused credential)`)
    t.match(result.stderr, /refused by Atlassian and was not stored.*BROKER_ERR_CREDENTIAL_VERIFICATION_FAILED/, `${name}: the same verdict`)
    t.notMatch(result.stderr, 'revoked-token')
  }
  const history = JSON.parse((await cli(['secrets', 'history', 'jira-main', '--json'])).stdout) as { currentVersion: number }
  t.equal(history.currentVersion, 1, 'nothing was stored')
})

t.test('init with a wrong OAuth secret exits 1, as rotate does, and says what to check', async (t) => {
  const { fake, cli } = await setup(t)
  fake.addClient('verdict-client', 'verdict-secret-0123456789')
  const wrong = { client_id: 'verdict-client', client_secret: 'verdict-wrong-secret-000' }
  const byInit = await cli(init('oauth'), wrong)
  t.equal(byInit.code, 1, byInit.stderr)
  t.match(byInit.stderr, /check client_id\/client_secret.*BROKER_ERR_CREDENTIAL_VERIFICATION_FAILED/)
  t.notMatch(byInit.stderr, wrong.client_secret)
})
