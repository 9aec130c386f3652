import t from 'tap'
import { parseConfig } from '../../src/config/load.js'
import { normalizeSiteInput, siteNameProblem, tenantInfoUrl } from '../../src/config/site-name.js'

t.test('only bare host names under an allowed suffix pass', async (t) => {
  t.equal(siteNameProblem('acme.atlassian.net'), undefined)
  t.equal(siteNameProblem('ACME-eu.atlassian.net'), undefined)
  for (const bad of [
    'https://acme.atlassian.net', 'acme.atlassian.net/evil', 'evil.com#.atlassian.net', 'user@acme.atlassian.net',
    'acme.atlassian.net:8080', '169.254.169.254', 'localhost', 'atlassian.net', '.atlassian.net', 'acme.atlassian.net.evil.com',
    'acme..atlassian.net', '-acme.atlassian.net', 'a b.atlassian.net', 'acme.atlassian.net\\@evil', 'evil.com?.atlassian.net'
  ]) {
    t.type(siteNameProblem(bad), 'string', `${bad} is refused`)
  }
  t.equal(siteNameProblem('acme.jira-dev.com', ['.jira-dev.com']), undefined, 'suffixes are configurable')
  t.match(siteNameProblem('acme.atlassian.net', ['.jira-dev.com']), /must end with \.jira-dev\.com/)
})

t.test('pasted URLs are reduced to their host; the template builds the tenant_info URL', async (t) => {
  t.equal(normalizeSiteInput(' https://Acme.atlassian.net/jira/software/projects '), 'acme.atlassian.net')
  t.equal(normalizeSiteInput('ACME.atlassian.net'), 'acme.atlassian.net')
  t.equal(tenantInfoUrl('https://{site}', 'acme.atlassian.net'), 'https://acme.atlassian.net/_edge/tenant_info')
  t.equal(tenantInfoUrl('http://127.0.0.1:9/site/{site}/', 'acme.atlassian.net'), 'http://127.0.0.1:9/site/acme.atlassian.net/_edge/tenant_info')
})

t.test('config: site or cloudId, a valid site, and a siteUrl with {site}', async (t) => {
  const parsed = parseConfig({ integrations: { jira: { product: 'jira', site: 'acme.atlassian.net' } } }, 'test', {})
  t.equal(parsed.integrations.jira?.site, 'acme.atlassian.net')
  t.equal(parsed.integrations.jira?.cloudId, undefined)
  t.equal(parsed.atlassian.siteUrl, 'https://{site}')
  t.throws(() => parseConfig({ integrations: { jira: { product: 'jira' } } }, 'test', {}), /integrations\.jira: give site \(e\.g\. acme\.atlassian\.net\) or cloudId/)
  t.throws(() => parseConfig({ integrations: { jira: { product: 'jira', site: 'evil.com/x?' } } }, 'test', {}), /integrations\.jira\.site: "evil\.com\/x\?" is not a bare host name/)
  t.throws(() => parseConfig({ integrations: { jira: { product: 'jira', site: 'internal.corp' } } }, 'test', {}), /integrations\.jira\.site: .*must end with \.atlassian\.net/)
  t.throws(() => parseConfig({ atlassian: { siteUrl: 'https://example.com' } }, 'test', {}), /atlassian\.siteUrl: must contain \{site\}.*"https:\/\/\{site\}" \(the default\)/)
  t.doesNotThrow(() => parseConfig({ atlassian: { siteSuffixes: ['.jira-dev.com'] }, integrations: { j: { product: 'jira', site: 'acme.jira-dev.com' } } }, 'test', {}))
})
