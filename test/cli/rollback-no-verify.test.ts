/**
 * `secrets rollback --no-verify`. Regression: the flag was parsed but never reached the write path, so a version
 * stored with `put --no-verify` (a credential Atlassian could not check yet) could not be restored until Atlassian
 * accepted it, and the CLI said "Verified … again" even when nothing was verified.
 */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { stringify } from 'yaml'
import { cliEnv, runCli } from '../helpers/cli.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'

const CLOUD_ID = '11111111-1111-1111-1111-111111111111'
const PENDING = { client_id: 'pending-client', client_secret: 'pending-secret-not-yet-known-to-atlassian' }
const WORKING = { client_id: 'working-client', client_secret: 'working-secret-aaaaaaaaaaaa' }

t.test('rollback --no-verify restores a version Atlassian cannot check yet; without it the rollback is refused', async (t) => {
  const dir = t.testdir({})
  const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: CLOUD_ID }] })
  fake.addClient(WORKING.client_id, WORKING.client_secret)
  writeFileSync(path.join(dir, 'atlassian-broker.yaml'), stringify({
    atlassian: { tokenUrl: fake.tokenUrl, apiUrl: fake.url },
    integrations: { 'jira-main': { product: 'jira', cloudId: CLOUD_ID, credential: 'oauth' } },
    secrets: { store: 'file', file: { path: path.join(dir, 'secrets.enc') } }
  }))
  const env = cliEnv({ BROKER_MASTER_KEY: 'rollback-no-verify-master-key' })
  const cli = (args: string[], stdin?: unknown): ReturnType<typeof runCli> =>
    runCli(args, { cwd: dir, env, ...(stdin === undefined ? {} : { stdin: JSON.stringify(stdin) }) })

  t.equal((await cli(['secrets', 'put', 'jira-main', '--no-verify'], PENDING)).code, 0, 'version 1, not verified')
  t.equal((await cli(['secrets', 'rotate', 'jira-main'], WORKING)).code, 0, 'version 2, verified')

  const refused = await cli(['secrets', 'rollback', 'jira-main'])
  t.equal(refused.code, 1, 'version 1 is checked and Atlassian refuses it')
  t.match(refused.stderr, /BROKER_ERR_CREDENTIAL_VERIFICATION_FAILED/)

  const restored = await cli(['secrets', 'rollback', 'jira-main', '--no-verify'])
  t.equal(restored.code, 0, restored.stderr)
  t.notMatch(restored.stdout, /Verified/, 'nothing claims a check that was not made')
  t.match(restored.stdout, /Stored it as version 3 \(was 2\)\./)
  t.match(restored.stdout, /Warning: not verified \(--no-verify\)/)
})
