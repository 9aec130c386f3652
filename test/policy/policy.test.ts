import t from 'tap'
import { request } from 'undici'
import { compilePolicy, namesCaller } from '../../src/policy/policy.js'
import { startHarness } from '../helpers/broker-harness.js'

t.test('deny by default; caller x integration x method x path', async (t) => {
  const policy = compilePolicy([
    { caller: 'report-job', integration: 'jira-main', methods: ['GET'], paths: ['/rest/api/3/issue/*', '/rest/api/3/search/**'] },
    { caller: 'ci-*', integration: 'jira-*', methods: ['POST'], paths: ['/rest/api/3/issue'] },
    { caller: 'ops', integration: 'wiki-main', methods: ['*'], paths: ['/wiki/**'] }
  ])
  t.equal(compilePolicy([]).decide('anyone', 'jira-main', 'GET', '/').allowed, false, 'empty policy denies')
  t.equal(policy.decide('report-job', 'jira-main', 'GET', '/rest/api/3/issue/OPS-1').allowed, true)
  t.equal(policy.decide('report-job', 'jira-main', 'GET', '/rest/api/3/issue/OPS-1/comment').allowed, false, '* stays inside one segment')
  t.equal(policy.decide('report-job', 'jira-main', 'GET', '/rest/api/3/search/jql').allowed, true, '** crosses segments')
  t.equal(policy.decide('report-job', 'jira-main', 'GET', '/rest/api/3/search').allowed, true, '/** also matches its prefix')
  t.equal(policy.decide('report-job', 'jira-main', 'GET', '/rest/api/3/searchx').allowed, false)
  t.equal(policy.decide('report-job', 'jira-main', 'DELETE', '/rest/api/3/issue/OPS-1').allowed, false, 'method not granted')
  t.equal(policy.decide('report-job', 'wiki-main', 'GET', '/wiki/x').allowed, false, 'integration not granted')
  t.equal(policy.decide('ci-build', 'jira-main', 'POST', '/rest/api/3/issue').allowed, true, 'caller and integration globs')
  t.equal(policy.decide('cix', 'jira-main', 'POST', '/rest/api/3/issue').allowed, false)
  t.equal(policy.decide('ops', 'wiki-main', 'PATCH', '/wiki/api/v2/pages/1').allowed, true, 'method *')
  t.equal(policy.decide('report.job', 'jira-main', 'GET', '/rest/api/3/issue/1').allowed, false, 'a dot in a name is literal')
  const denied = policy.decide('report-job', 'jira-main', 'GET', '/rest/api/2/issue/1')
  t.match(denied, { allowed: false, reason: /GET \/rest\/api\/2\/issue\/1 on integration "jira-main" for caller "report-job"/ })
  t.same(policy.knownCallers, new Set(['report-job', 'ops']))
})

t.test('regex metacharacters in globs are literal', async (t) => {
  const policy = compilePolicy([{ caller: 'a', integration: 'i', methods: ['GET'], paths: ['/rest/(x|y)+/a.b'] }])
  t.equal(policy.decide('a', 'i', 'GET', '/rest/(x|y)+/a.b').allowed, true)
  t.equal(policy.decide('a', 'i', 'GET', '/rest/xx/aXb').allowed, false)
})

t.test('over the wire: 403 names what was refused, 404 for unknown integrations, nothing reaches Atlassian', async (t) => {
  const h = await startHarness(t)
  const auth = { authorization: `Bearer ${h.callerToken('report-job')}` }
  const denied = await request(`${h.url}/proxy/jira-main/rest/api/3/issue/OPS-1`, { method: 'DELETE', headers: auth })
  const deniedBody = await denied.body.json() as Record<string, string>
  t.equal(denied.statusCode, 403)
  t.equal(deniedBody.code, 'BROKER_ERR_POLICY_DENIED')
  t.match(deniedBody.message, /DELETE .*jira-main.*report-job/)

  const stranger = await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: { authorization: `Bearer ${h.callerToken('unknown-job')}` } })
  t.equal(stranger.statusCode, 403, 'a caller no rule names is denied')
  await stranger.body.dump()

  const unknown = await request(`${h.url}/proxy/nope/rest/api/3/myself`, { headers: auth })
  const unknownBody = await unknown.body.json() as Record<string, string>
  t.equal(unknown.statusCode, 404)
  t.equal(unknownBody.code, 'BROKER_ERR_INTEGRATION_NOT_FOUND')

  const proto = await request(`${h.url}/proxy/__proto__/x`, { headers: auth })
  t.equal(proto.statusCode, 404, 'prototype names are not integrations')
  await proto.body.dump()
  t.equal(h.fake.requests.length, 0, 'denied calls never reached Atlassian')
})

t.test('namesCaller: a rule names its exact caller, or the callers its glob matches', async (t) => {
  const [exact, globbed] = compilePolicy([
    { caller: 'report-job', integration: 'jira-main', methods: ['GET'], paths: ['/**'] },
    { caller: 'job-*', integration: 'jira-main', methods: ['GET'], paths: ['/**'] }
  ]).rules
  if (exact === undefined || globbed === undefined) throw new Error('two rules')
  t.ok(namesCaller(exact, 'report-job'))
  t.notOk(namesCaller(exact, 'report-job-2'), 'a plain name is not a prefix')
  t.ok(namesCaller(globbed, 'job-nightly'))
  t.ok(namesCaller(globbed, 'job-nightly'), 'again, from the compiled pattern')
  t.notOk(namesCaller(globbed, 'report-job'))
  t.ok(namesCaller(globbed, 'job-*'), 'the glob text itself, as the rule says it')
})
