/** `init` against the Vault store: the credential is stored, and the site's cloudId is left in its custom_metadata for
 * every sidecar. */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { pino } from 'pino'
import t from 'tap'
import { stringify } from 'yaml'
import { createVaultStore } from '../../src/secrets/vault/vault-store.js'
import { cliEnv, runCli } from '../helpers/cli.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'
import { startBrokerVault } from '../helpers/test-stores.js'

const CLOUD_ID = '0a1b2c3d-0000-4000-8000-000000000002'
const SITE = 'acme.atlassian.net'
const SECRET = 'init-vault-client-secret-0123456789'

t.test('init on Vault stores the credential and the resolved site in the key\'s metadata', async (t) => {
  const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: CLOUD_ID }] })
  fake.setSiteName(SITE, CLOUD_ID)
  fake.addClient('init-vault-client', SECRET)
  const { fakeVault, vaultConfig } = await startBrokerVault()
  t.teardown(() => fakeVault.close())
  const dir = t.testdir({})
  writeFileSync(path.join(dir, 'atlassian-broker.yaml'), stringify({
    dataDir: './data',
    atlassian: { tokenUrl: fake.tokenUrl, apiUrl: fake.url, siteUrl: fake.siteUrl },
    integrations: {},
    policy: [],
    secrets: { store: 'vault', vault: vaultConfig }
  }))
  const result = await runCli(['init', '--integration', 'jira-main', '--site', SITE, '--product', 'jira', '--caller', 'report-job'],
    { cwd: dir, env: cliEnv({}), stdin: JSON.stringify({ client_id: 'init-vault-client', client_secret: SECRET }) })
  t.equal(result.code, 0, result.stderr)
  t.match(result.stdout, '✔ credential: stored for jira-main as version 1 in the vault store')
  const store = await createVaultStore({ config: vaultConfig, logger: pino({ level: 'silent' }) })
  t.teardown(() => store.close())
  t.match(await store.metadata('jira-main'), { site: SITE, site_cloud_id: CLOUD_ID })
  t.notMatch(result.stdout + result.stderr, SECRET)
})
