import { readFileSync } from 'node:fs'
import t from 'tap'
import { JIRA_CLOUD_ID, WIKI_CLOUD_ID, startHarness } from '../helpers/broker-harness.js'
import { call } from '../helpers/calls.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'
import { createLogger } from '../../src/logger.js'
import { parseConfig } from '../../src/config/load.js'
import { resolveSites, SITE_CACHE_FILE } from '../../src/atlassian/site-resolver.js'

const SITE = 'acme.atlassian.net'
const silent = createLogger({ level: 'silent' })

function siteConfig (
  fake: FakeAtlassian,
  dataDir: string,
  integration: Record<string, unknown>
): Record<string, unknown> {
  return {
    dataDir,
    atlassian: { tokenUrl: fake.tokenUrl, apiUrl: fake.url, siteUrl: fake.siteUrl },
    integrations: {
      'jira-main': { product: 'jira', credential: 'oauth', ...integration },
      'wiki-main': { product: 'confluence', cloudId: WIKI_CLOUD_ID }
    }
  }
}

t.test('a site-only integration is resolved at start and its calls reach that cloudId', async (t) => {
  const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }, { product: 'confluence', cloudId: WIKI_CLOUD_ID }] })
  fake.setSiteName(SITE, JIRA_CLOUD_ID)
  const dataDir = t.testdir({})
  const h = await startHarness(t, { fake, config: siteConfig(fake, dataDir, { site: SITE }) })
  t.equal(h.broker.config.integrations['jira-main']?.cloudId, JIRA_CLOUD_ID)
  t.equal(fake.tenantInfoRequests(SITE), 1, 'one tenant_info lookup')
  const result = await call(h)
  t.equal(result.status, 200)
  t.ok(fake.requests.some((request) => request.path.startsWith(`/ex/jira/${JIRA_CLOUD_ID}/rest/api/3/myself`)), 'forwarded to the resolved cloudId')
  const cache = JSON.parse(readFileSync(`${dataDir}/${SITE_CACHE_FILE}`, 'utf8')) as Record<string, { cloudId: string }>
  t.equal(cache[SITE]?.cloudId, JIRA_CLOUD_ID, 'the answer is cached in the data dir')
})

t.test('an unreachable site is served from the cache; never resolved, it stops the start naming the site', async (t) => {
  const fake = await FakeAtlassian.start({ t })
  const dataDir = t.testdir({})
  fake.setSiteName(SITE, JIRA_CLOUD_ID)
  const first = await resolveSites(parseConfig(siteConfig(fake, dataDir, { site: SITE }), 'test', {}), { logger: silent })
  t.equal(first.integrations['jira-main']?.cloudId, JIRA_CLOUD_ID)
  fake.setSiteName(SITE, undefined)
  const cached = await resolveSites(parseConfig(siteConfig(fake, dataDir, { site: SITE }), 'test', {}), { logger: silent })
  t.equal(cached.integrations['jira-main']?.cloudId, JIRA_CLOUD_ID, 'cache used when the site does not answer')
  t.equal(fake.tenantInfoRequests(SITE), 2, 'the site was still asked first')
  await fake.close()
  const down = await resolveSites(parseConfig(siteConfig(fake, dataDir, { site: SITE }), 'test', {}), { logger: silent })
  t.equal(down.integrations['jira-main']?.cloudId, JIRA_CLOUD_ID, 'cache used when the site is unreachable')
  await t.rejects(
    resolveSites(parseConfig(siteConfig(fake, t.testdir({}), { site: 'never.atlassian.net' }), 'test', {}), { logger: silent }),
    { code: 'BROKER_ERR_CONFIG', message: /integrations\.jira-main\.site: could not look up the cloudId of never\.atlassian\.net .*never resolved before/ }
  )
})

t.test('site and cloudId must agree; an unknown site says to check the name', async (t) => {
  const fake = await FakeAtlassian.start({ t })
  fake.setSiteName(SITE, JIRA_CLOUD_ID)
  const dataDir = t.testdir({})
  await t.rejects(
    resolveSites(parseConfig(siteConfig(fake, dataDir, { site: SITE, cloudId: WIKI_CLOUD_ID }), 'test', {}), { logger: silent }),
    { message: new RegExp(`integrations\\.jira-main: site ${SITE} has cloudId ${JIRA_CLOUD_ID}, but cloudId ${WIKI_CLOUD_ID} is configured`) }
  )
  const agreed = await resolveSites(parseConfig(siteConfig(fake, dataDir, { site: SITE, cloudId: JIRA_CLOUD_ID.toUpperCase() }), 'test', {}), { logger: silent })
  t.equal(agreed.integrations['jira-main']?.cloudId, JIRA_CLOUD_ID)
  await t.rejects(
    resolveSites(parseConfig(siteConfig(fake, dataDir, { site: 'typo.atlassian.net' }), 'test', {}), { logger: silent }),
    { message: /typo\.atlassian\.net answered 404 to GET http:\/\/127\.0\.0\.1:\d+\/site\/typo\.atlassian\.net\/_edge\/tenant_info: no Atlassian site by that name/ }
  )
})

t.test('issue 24 §7: a site that cannot be reached names the URL that was asked (from atlassian.siteUrl)', async (t) => {
  const config = parseConfig({
    dataDir: t.testdir({}),
    atlassian: { siteUrl: 'http://127.0.0.1:9/nothing/{site}' },
    integrations: { 'jira-main': { product: 'jira', site: SITE } }
  }, 'test', {})
  await t.rejects(resolveSites(config, { logger: silent }), { message: new RegExp(`GET http://127\\.0\\.0\\.1:9/nothing/${SITE.replaceAll('.', '\\.')}/_edge/tenant_info failed: `) })
})

t.test('configs that give every cloudId make no request at all', async (t) => {
  const fake = await FakeAtlassian.start({ t })
  const config = parseConfig(siteConfig(fake, t.testdir({}), { cloudId: JIRA_CLOUD_ID }), 'test', {})
  const resolved = await resolveSites(config, { logger: silent })
  t.equal(resolved, config)
  t.equal(fake.requests.length, 0)
})

t.test('a 404 on the first call logs the integration, site and likely cause once', async (t) => {
  const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }, { product: 'confluence', cloudId: WIKI_CLOUD_ID }] })
  const ORG_ID = '99999999-9999-4999-8999-999999999999'
  fake.setSiteName(SITE, ORG_ID)
  const h = await startHarness(t, { fake, config: siteConfig(fake, t.testdir({}), { site: SITE }) })
  t.equal((await call(h)).status, 404)
  t.equal((await call(h)).status, 404)
  const hints = h.logs.filter((line) => line.includes('to the first call'))
  t.equal(hints.length, 1, 'said once, not per call')
  t.match(hints[0], `integration jira-main (site ${SITE}, cloudId ${ORG_ID}): Atlassian answered 404 to the first call; the cloudId is likely wrong: an organization ID is not a cloudId`)
  t.equal((await call(h, '/wiki/api/v2/spaces', { integration: 'wiki-main' })).status, 200)
  t.equal(h.logs.filter((line) => line.includes('to the first call')).length, 1, 'a good first call says nothing')
})
