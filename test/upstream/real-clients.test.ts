/** Users' real clients (jira.js, confluence.js) work unchanged with their host set to the broker. */
import { createV1Client, createV2Client } from 'confluence.js'
import { createCloudClient } from 'jira.js'
import t from 'tap'
import { CLIENT_SECRET, startHarness } from '../helpers/broker-harness.js'

t.test('jira.js: myself, create and read an issue through the broker', async (t) => {
  const h = await startHarness(t)
  const jira = createCloudClient({ host: `${h.url}/proxy/jira-main`, auth: { type: 'bearer', token: h.callerToken('report-job') } })
  const myself = await jira.myself.getCurrentUser()
  t.equal(myself.emailAddress, 'report-bot@serviceaccount.atlassian.com')
  const created = await jira.issues.createIssue({ fields: { project: { key: 'OPS' }, summary: 'Nightly report', issuetype: { name: 'Task' } } })
  t.match(created.key, /^OPS-\d+$/)
  const issue = await jira.issues.getIssue({ issueIdOrKey: created.key })
  t.equal(issue.fields?.summary, 'Nightly report')
  t.equal(h.fake.exchanges, 1, 'one exchange served every call')
  const gateway = h.fake.requests.filter((request) => request.path.startsWith('/ex/'))
  t.ok(gateway.length >= 3)
  for (const request of gateway) {
    t.match(request.headers.authorization, /^Bearer /, 'the broker injected the access token')
    t.notMatch(String(request.headers.authorization), h.callerToken('report-job').slice(0, 20), 'the caller JWT never reaches Atlassian')
  }
})

t.test('confluence.js v1 and v2 through the broker', async (t) => {
  const h = await startHarness(t)
  const token = h.callerToken('report-job')
  const v1 = createV1Client({ host: `${h.url}/proxy/wiki-main`, auth: { type: 'bearer', token } })
  const me = await v1.users.getCurrentUser()
  t.equal(me.email ?? me.publicName ?? me.displayName !== undefined, me.email ?? me.publicName ?? true)
  t.ok(me.accountId, 'current user has an accountId')
  const v2 = createV2Client({ host: `${h.url}/proxy/wiki-main`, auth: { type: 'bearer', token } })
  const spaces = await v2.space.getSpaces()
  t.ok(Array.isArray(spaces.results) && spaces.results.length > 0, 'spaces listed')
  t.notOk(JSON.stringify(h.logs).includes(CLIENT_SECRET))
})
