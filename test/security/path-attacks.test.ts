/**
 * Path tricks (docs/security.md, "Attack catalogue"): whatever the caller writes in the request target, what reaches
 * Atlassian stays under the integration's `/ex/{product}/{cloudId}` prefix and inside a path glob the policy granted.
 * Targets are written byte for byte on a socket: no client library normalises them first.
 */
import t from 'tap'
import { checkRequestPath } from '../../src/policy/request-path.js'
import { JIRA_CLOUD_ID, startHarness, type Harness } from '../helpers/broker-harness.js'
import { problemCode } from '../helpers/calls.js'
import { head, rawHttp, type RawResponse } from '../helpers/raw-http.js'

/** The only path this caller may reach: one issue at a time, read-only. */
const NARROW = [{ caller: 'narrow-job', integration: 'jira-main', methods: ['GET'], paths: ['/rest/api/3/issue/*'] }]
const ALLOWED = /^\/rest\/api\/3\/issue\/[^/]+$/

async function get (h: Harness, target: string, caller = 'narrow-job'): Promise<RawResponse> {
  return rawHttp(h.url, head(`GET ${target} HTTP/1.1`, ['Host: broker', `Authorization: Bearer ${h.callerToken(caller)}`, 'Connection: close']))
}

const TRICKS = [
  // dot segments, plain and encoded
  '/rest/api/3/issue/../../../admin', '/rest/api/3/issue/./OPS-1', '/rest/api/3/issue/%2e%2e/%2e%2e/admin', '/rest/api/3/issue/%2E%2E',
  '/rest/api/3/issue/.%2e/x', '/rest/api/3/issue/%2e./x', '/rest/api/3/issue/OPS-1/..',
  // double encoding
  '/rest/api/3/issue/%252e%252e/admin', '/rest/api/3/issue/%252fadmin', '/rest/api/3/issue/%25252e',
  // slashes and backslashes, encoded or doubled
  '/rest/api/3/issue/a%2f..%2f..%2fadmin', '/rest/api/3/issue/a%2F..', '/rest/api/3/issue/a%5c..%5cadmin', '/rest/api/3/issue/a\\..\\admin',
  '/rest/api/3/issue//admin', '/rest/api/3/issue/OPS-1//',
  // path parameters
  '/rest/api/3/issue/..;/admin', '/rest/api/3/issue/OPS-1;jsessionid=x', '/rest/api/3/issue/OPS-1%3bx', '/rest/api/3/issue/OPS-1%3B',
  // Unicode: fullwidth dots, one-dot and two-dot leaders, fullwidth solidus and reverse solidus, overlong UTF-8
  '/rest/api/3/issue/%EF%BC%8E%EF%BC%8E/admin', '/rest/api/3/issue/%E2%80%A4%E2%80%A4', '/rest/api/3/issue/%E2%80%A5',
  '/rest/api/3/issue/a%EF%BC%8F..%EF%BC%8Fadmin', '/rest/api/3/issue/a%EF%BC%BC..', '/rest/api/3/issue/%C0%AE%C0%AE/admin',
  '/rest/api/3/issue/%C0%AFadmin', '/rest/api/3/issue/%E0%80%AE', '/rest/api/3/issue/%EF%BC%85',
  // raw bytes the parser must refuse, controls, fragments, case
  '/rest/api/3/issue/\xc0\xae\xc0\xae', '/rest/api/3/issue/%00', '/rest/api/3/issue/%0d%0aHost:%20evil', '/rest/api/3/issue/OPS-1#/../../admin',
  '/rest/api/3/issue/OPS-1?x=1#/../../admin', '/REST/api/3/issue/OPS-1', '/rest/api/3/issue/OPS-1/comment', '/rest/api/3/issue',
  // length
  `/rest/api/3/issue/${'a'.repeat(4_100)}`
]

t.test('path tricks never leave the integration prefix or the granted glob', async (t) => {
  const h = await startHarness(t, { config: { policy: NARROW } })
  for (const trick of TRICKS) {
    const response = await get(h, `/proxy/jira-main${trick}`)
    t.ok([400, 403, 404].includes(response.status), `${JSON.stringify(trick.slice(0, 60))}: refused with ${response.status}`)
    t.match(problemCode(response.body), /^BROKER_ERR_(PATH_REJECTED|BAD_REQUEST|POLICY_DENIED)$/, 'with a problem code')
  }
  const integrationTricks = ['/proxy/jira-main%2f..%2fwiki-main/wiki/x', '/proxy/../proxy/wiki-main/wiki/x', '/proxy/JIRA-MAIN/rest/api/3/issue/OPS-1',
    '/proxy/wiki-main/rest/api/3/issue/OPS-1', '/proxy/jira-main%00/rest/api/3/issue/OPS-1', '/proxy//jira-main/rest/api/3/issue/OPS-1']
  for (const target of integrationTricks) {
    const response = await get(h, target)
    t.ok([400, 403, 404].includes(response.status), `${target}: refused with ${response.status}`)
  }
  t.equal(h.fake.requests.length, 0, 'none of them reached Atlassian, not even the token endpoint')

  const allowed = await get(h, '/proxy/jira-main/rest/api/3/issue/%4F%50%53-1?expand=names&x=/../../admin')
  t.equal(problemCode(allowed.body), undefined, 'an encoded but unambiguous path is allowed (Atlassian answers)')
  for (const forwarded of h.fake.requests.filter((r) => r.endpoint === 'gateway')) {
    t.ok(forwarded.url.startsWith(`/ex/jira/${JIRA_CLOUD_ID}/`), 'under the integration prefix')
    t.match(forwarded.apiPath, ALLOWED, `inside the granted glob: ${forwarded.apiPath ?? ''}`)
  }
  t.equal(h.fake.requests.find((r) => r.endpoint === 'gateway')?.url, `/ex/jira/${JIRA_CLOUD_ID}/rest/api/3/issue/OPS-1?expand=names&x=/../../admin`,
    'forwarded as checked: unreserved characters decoded, the query byte for byte')
})

t.test('very long paths: 400 past the path limit, 431 past limits.headerBytes', async (t) => {
  const h = await startHarness(t, { config: { policy: NARROW, limits: { headerBytes: 8_192 } } })
  const long = await get(h, `/proxy/jira-main/rest/api/3/issue/${'a'.repeat(4_100)}`)
  t.equal(long.status, 400)
  t.match(long.body, /path longer than 4096 characters/)
  const huge = await get(h, `/proxy/jira-main/rest/api/3/issue/${'a'.repeat(9_000)}`)
  t.equal(huge.status, 431)
  t.equal(problemCode(huge.body), 'BROKER_ERR_HEADERS_TOO_LARGE')
  t.equal(h.fake.requests.length, 0)
})

t.test('regression: an absolute-form target was routed by its path but read by the handler from the scheme on', async (t) => {
  // find-my-way strips "http://host" before matching; the handler used to slice "/proxy/".length characters off the raw
  // target, so "http://jira-main/proxy/wiki-main/..." was routed as a proxy call and read as integration "jira-main".
  const h = await startHarness(t, { config: { policy: [{ caller: 'report-job', integration: 'jira-main', methods: ['GET'], paths: ['/**'] }] } })
  for (const target of ['http://jira-main/proxy/wiki-main/wiki/rest/api/user/current', 'http://evil.example/proxy/jira-main/rest/api/3/myself',
    'https://jira-main/proxy/jira-main/rest/api/3/myself']) {
    const response = await get(h, target, 'report-job')
    t.equal(response.status, 400, `${target}: 400`)
    t.equal(problemCode(response.body), 'BROKER_ERR_PATH_REJECTED')
  }
  t.equal(h.fake.requests.length, 0, 'nothing was forwarded')
  t.equal((await get(h, '/proxy/jira-main/rest/api/3/myself', 'report-job')).status, 200, 'origin-form still works')
})

t.test('regression: a target the router cannot decode (%C0%AE) was answered with Fastify\'s FST_ERR_BAD_URL body, not a problem', async (t) => {
  const h = await startHarness(t, { config: { policy: NARROW } })
  const response = await get(h, '/proxy/jira-main/rest/api/3/issue/%C0%AE%C0%AE/admin')
  t.equal(response.status, 400)
  t.match(JSON.parse(response.body), { statusCode: 400, code: 'BROKER_ERR_BAD_REQUEST', error: 'Bad Request', requestId: String })
  t.equal(response.headers['x-request-id'], (JSON.parse(response.body) as { requestId: string }).requestId)
})

t.test('regression: encoded dots that Unicode normalisation folds to "..", overlong UTF-8 and fragments were forwarded', async (t) => {
  const refused: Array<[string, string]> = [
    ['/rest/%EF%BC%8E%EF%BC%8E/admin', '..'], ['/rest/%E2%80%A5/admin', '..'], ['/rest/%E2%80%A4/admin', '.'], ['/rest/x%EF%BC%8F..', '/'],
    ['/rest/x%EF%BC%BC..', '\\'], ['/rest/x%EF%BC%9Bjsessionid=1', ';'], ['/rest/%C0%AE%C0%AE/admin', 'not UTF-8'], ['/rest/%ED%A0%80', 'not UTF-8']
  ]
  for (const [path, why] of refused) t.equal(checkRequestPath(path, '').ok, false, `${path} refused (${why})`)
  t.equal(checkRequestPath('/rest/api/3/issue/OPS-1', 'a=1#frag').ok, false, 'a fragment in the query')
  for (const path of ['/wiki/download/attachments/1/caf%C3%A9.pdf', '/wiki/x/%E2%80%A6', '/rest/api/3/user/%E6%97%A5%E6%9C%AC']) {
    t.same(checkRequestPath(path, ''), { ok: true, value: { path, query: '' } }, `${path} still allowed (ordinary UTF-8)`)
  }
})
