/**
 * Resolved sites cached in Vault metadata (src/atlassian/site-cache.ts), as cases that run against any Vault API:
 * the fake (test/secrets/vault-store.test.ts) and a real `vault server -dev` (test/vault-real/real-vault.test.ts).
 */
import { parseConfig } from '../../src/config/load.js'
import { resolveSitesOutcome } from '../../src/atlassian/site-resolver.js'
import { storeSiteCache } from '../../src/atlassian/site-cache.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'
import { assertNoSecrets, openVaultStore, type TapTest, type VaultStoreTarget } from '../secrets/vault-store-cases.js'

const SITE = 'acme.atlassian.net'
const CLOUD_ID = '33333333-3333-4333-8333-333333333333'
/** Nothing listens on the discard port: a site behind it is unreachable. */
const UNREACHABLE = 'http://127.0.0.1:9/{site}'

export async function runSiteCacheCases (t: TapTest, target: VaultStoreTarget): Promise<void> {
  await t.test(`${target.name}: a resolved site is kept in the key's metadata, and a new pod starts from it while the site is down`, async (t) => {
    const { store, prefix, logger, logs: text, secrets, root } = await openVaultStore(t, target)
    const fake = await FakeAtlassian.start({ t })
    fake.setSiteName(SITE, CLOUD_ID)
    await store.put('jira-main', { client_id: 'site-case-client', client_secret: 'site-case-secret-value' }, { cas: 0 })
    const brokerConfig = (siteUrl: string): ReturnType<typeof parseConfig> => parseConfig({
      dataDir: t.testdir({}),
      atlassian: { tokenUrl: fake.tokenUrl, apiUrl: fake.url, siteUrl },
      integrations: { 'jira-main': { product: 'jira', credential: 'oauth', site: SITE } }
    }, 'test', {})

    const first = await resolveSitesOutcome(brokerConfig(fake.siteUrl), {
      logger,
      shared: storeSiteCache(store, logger)
    })
    t.match(first.resolved, [{ integration: 'jira-main', from: 'site', cloudId: CLOUD_ID }])
    const raw = await root.read(`${target.mount}/metadata/${prefix}/jira-main`) as { data: { custom_metadata: Record<string, string>, current_version: number } }
    t.match(raw.data.custom_metadata, { site: SITE, site_cloud_id: CLOUD_ID }, 'the answer is in Vault custom_metadata')
    t.ok(Number.isFinite(Date.parse(raw.data.custom_metadata.site_resolved_at ?? '')), 'with the time it was resolved')
    t.equal(raw.data.current_version, 1, 'metadata only: no credential version was added')
    t.match(await store.metadata('jira-main'), { site: SITE, site_cloud_id: CLOUD_ID })

    // A new pod: empty data dir, the site unreachable. Without Vault's answer it could not start.
    const alone = await resolveSitesOutcome(brokerConfig(UNREACHABLE), { logger })
    t.match(alone.problems, [/integrations\.jira-main\.site: could not look up the cloudId of acme\.atlassian\.net/])
    const second = await resolveSitesOutcome(brokerConfig(UNREACHABLE), {
      logger,
      shared: storeSiteCache(store, logger)
    })
    t.same(second.problems, [])
    t.match(second.resolved, [{ integration: 'jira-main', from: 'shared', cloudId: CLOUD_ID }])
    t.equal(second.config.integrations['jira-main']?.cloudId, CLOUD_ID)
    t.match(text(), /site unreachable: using the cloudId cached in the secret store/)

    // Another site name in config: Vault's entry is for a different site and is not used.
    const renamed = parseConfig({
      dataDir: t.testdir({}),
      atlassian: { tokenUrl: fake.tokenUrl, apiUrl: fake.url, siteUrl: UNREACHABLE },
      integrations: { 'jira-main': { product: 'jira', credential: 'oauth', site: 'other.atlassian.net' } }
    }, 'test', {})
    t.equal((await resolveSitesOutcome(renamed, { logger, shared: storeSiteCache(store, logger) })).problems.length, 1, 'an entry for another site is ignored')
    assertNoSecrets(t, [text()], [...secrets, 'site-case-secret-value'])
  })
}
