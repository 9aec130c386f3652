/**
 * Sites cached in Vault metadata, against the fake Vault API: the shared cases (also run against a real Vault in
 * test/vault-real/), a read-only broker identity (the write is refused once, resolution goes on), and a broker start.
 */
import t from 'tap'
import { createVaultStore } from '../../src/secrets/vault/vault-store.js'
import { resolveSitesOutcome } from '../../src/atlassian/site-resolver.js'
import { storeSiteCache } from '../../src/atlassian/site-cache.js'
import { type VaultConfig } from '../../src/config/schema.js'
import { parseConfig } from '../../src/config/load.js'
import { CLIENT_ID, CLIENT_SECRET, startHarness } from '../helpers/broker-harness.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'
import { FakeVault } from '../helpers/fake-vault.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { captureLogger, renderBrokerPolicies, type TapTest, type VaultStoreTarget } from '../secrets/vault-store-cases.js'
import { runSiteCacheCases } from './site-cache-cases.js'

const SITE = 'acme.atlassian.net'
const CLOUD_ID = '44444444-4444-4444-8444-444444444444'

async function startFake (t: TapTest): Promise<{ fake: FakeVault, clock: ManualClock, target: VaultStoreTarget }> {
  const clock = new ManualClock(Date.now())
  const fake = await FakeVault.start({ clock })
  t.teardown(() => fake.close())
  const target: VaultStoreTarget = {
    name: 'fake',
    address: fake.address,
    rootToken: fake.rootToken,
    mount: 'secret',
    clock,
    async setupAppRole ({ prefix }) {
      const policies = renderBrokerPolicies({ mount: 'secret', prefix })
      fake.addPolicyHcl(`broker-${prefix}`, policies.broker)
      fake.addPolicyHcl(`rotator-${prefix}`, policies.rotator)
      return fake.addAppRole({ name: prefix, policies: [`broker-${prefix}`, `rotator-${prefix}`], tokenTtl: 1_200, tokenMaxTtl: 14_400 })
    }
  }
  return { fake, clock, target }
}

t.test('shared site cache cases against the fake Vault', async (t) => {
  const { target } = await startFake(t)
  await runSiteCacheCases(t, target)
})

t.test('a read-only broker identity: the write is refused once, logged, and resolution goes on', async (t) => {
  const { fake, clock } = await startFake(t)
  const policies = renderBrokerPolicies({ mount: 'secret', prefix: 'atlassian-broker' })
  fake.addPolicyHcl('atlassian-broker', policies.broker)
  const { roleId, secretId } = fake.addAppRole({ name: 'reader', policies: ['atlassian-broker'], tokenTtl: 1_200, tokenMaxTtl: 14_400 })
  const base: Omit<VaultConfig, 'auth'> = { address: fake.address, mount: 'secret', prefix: 'atlassian-broker', revalidateSeconds: 30, requestTimeoutMs: 1_000 }
  const writer = await createVaultStore({ config: { ...base, auth: { method: 'token', token: fake.rootToken } }, logger: captureLogger().logger, clock })
  t.teardown(() => writer.close())
  await writer.put('jira-main', { client_id: 'c', client_secret: 'reader-case-secret' })
  await writer.put('wiki-main', { client_id: 'c', client_secret: 'reader-case-secret' })
  const { logger, text } = captureLogger()
  const reader = await createVaultStore({ config: { ...base, auth: { method: 'approle', roleId, secretId, mountPath: 'approle' } }, logger, clock, random: () => 0 })
  t.teardown(() => reader.close())
  const atlassian = await FakeAtlassian.start({ t })
  atlassian.setSiteName(SITE, CLOUD_ID)
  atlassian.setSiteName('docs.atlassian.net', CLOUD_ID)
  const config = parseConfig({
    dataDir: t.testdir({}),
    atlassian: { tokenUrl: atlassian.tokenUrl, apiUrl: atlassian.url, siteUrl: atlassian.siteUrl },
    integrations: { 'jira-main': { product: 'jira', credential: 'oauth', site: SITE }, 'wiki-main': { product: 'confluence', credential: 'oauth', site: 'docs.atlassian.net' } }
  }, 'test', {})
  const outcome = await resolveSitesOutcome(config, { logger, shared: storeSiteCache(reader, logger) })
  t.same(outcome.problems, [])
  t.same(outcome.resolved.map((entry) => entry.from), ['site', 'site'], 'both sites resolved fresh')
  t.equal(text().match(/may not write the site cache/g)?.length, 1, 'the refusal is logged once, the second write not tried')
  t.same(await writer.metadata('jira-main'), {}, 'nothing was written')
  t.notMatch(text(), /reader-case-secret/)
})

t.test('a broker on the Vault store leaves its resolved sites in Vault at start', async (t) => {
  const { target, clock } = await startFake(t)
  const { roleId, secretId } = await target.setupAppRole({ prefix: 'atlassian-broker' })
  const vault: VaultConfig = { address: target.address, mount: 'secret', prefix: 'atlassian-broker', revalidateSeconds: 30, requestTimeoutMs: 1_000, auth: { method: 'approle', roleId, secretId, mountPath: 'approle' } }
  const store = await createVaultStore({ config: vault, logger: captureLogger().logger, clock, random: () => 0 })
  await store.put('jira-main', { client_id: CLIENT_ID, client_secret: CLIENT_SECRET })
  const atlassian = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: CLOUD_ID }] })
  atlassian.setSiteName(SITE, CLOUD_ID)
  const h = await startHarness(t, {
    fake: atlassian,
    store,
    empty: true,
    clock,
    config: {
      atlassian: { tokenUrl: atlassian.tokenUrl, apiUrl: atlassian.url, siteUrl: atlassian.siteUrl },
      integrations: { 'jira-main': { product: 'jira', credential: 'oauth', site: SITE } },
      policy: [{ caller: 'report-job', integration: 'jira-main', methods: ['GET'], paths: ['/rest/api/3/**'] }],
      secrets: { store: 'vault', vault }
    }
  })
  t.equal(h.broker.config.integrations['jira-main']?.cloudId, CLOUD_ID)
  t.match(await store.metadata('jira-main'), { site: SITE, site_cloud_id: CLOUD_ID })
})
