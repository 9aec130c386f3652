import t from 'tap'
import { request } from 'undici'
import { checkRequestPath } from '../../src/policy/request-path.js'
import { JIRA_CLOUD_ID, rawRequest, startHarness } from '../helpers/broker-harness.js'

t.test('ambiguous paths are refused, never repaired', async (t) => {
  const refused = [
    '/rest/api/3/../admin', '/rest/api/3/./x', '/rest/api/3/%2e%2e/admin', '/rest/api/3/%2E./admin', '/rest/api/3/.%2e/x',
    '/rest/api/3/issue%2f..%2fadmin', '/rest/api/3/issue%5c..', '/rest/api/3\\..\\admin', '/rest/api/3/..;/admin',
    '/rest/api/3/issue;jsessionid=1', '/rest/api/3/%252e%252e/admin', '/rest//api', '/rest/%00', '/rest/%zz', '/rest/%3b',
    `/${'a'.repeat(5000)}`, 'rest/api'
  ]
  for (const path of refused) t.equal(checkRequestPath(path, '').ok, false, `refused: ${path.slice(0, 40)}`)
})

t.test('unreserved characters are decoded so the checked path is the forwarded path', async (t) => {
  const checked = checkRequestPath('/rest/api/3/%69ssue/OPS-1/%7e%41', 'jql=a%20b&x=%2F')
  t.same(checked, { ok: true, value: { path: '/rest/api/3/issue/OPS-1/~A', query: 'jql=a%20b&x=%2F' } })
  const reserved = checkRequestPath('/wiki/pages/a%20b%3Fc', '')
  t.same(reserved, { ok: true, value: { path: '/wiki/pages/a%20b%3Fc', query: '' } }, 'reserved and other encodings stay encoded')
  t.same(checkRequestPath('/rest/api/3/issue/', ''), { ok: true, value: { path: '/rest/api/3/issue/', query: '' } }, 'a trailing slash is kept')
})

t.test('over the wire: 400 for unsafe paths, query forwarded byte for byte, prefix never escaped', async (t) => {
  const h = await startHarness(t)
  const auth = { authorization: `Bearer ${h.callerToken('report-job')}` }
  for (const path of ['/rest/api/3/%2e%2e/%2e%2e/admin', '/rest/api/3/issue%2F..%2F..%2Fadmin', '/rest/api/3/..;/x']) {
    const response = await rawRequest(h.url, `/proxy/jira-main${path}`, { headers: auth })
    const body = JSON.parse(response.body) as Record<string, string>
    t.equal(response.statusCode, 400, path)
    t.equal(body.code, 'BROKER_ERR_PATH_REJECTED')
  }
  t.equal(h.fake.requests.length, 0)
  const query = 'jql=project%20%3D%20OPS%20ORDER%20BY%20created&fields=summary,status&x=%2f&empty=&a=1&a=2'
  const ok = await request(`${h.url}/proxy/jira-main/rest/api/3/search/echo?${query}`, { headers: auth })
  await ok.body.dump()
  t.equal(ok.statusCode, 200)
  const forwarded = h.fake.requests.find((r) => r.endpoint === 'gateway')
  t.equal(forwarded?.url, `/ex/jira/${JIRA_CLOUD_ID}/rest/api/3/search/echo?${query}`, 'path under the integration prefix, query untouched')
})
