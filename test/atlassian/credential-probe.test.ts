/** The one verdict on a credential probe (src/atlassian/credential-probe.ts), status by status. */
import t from 'tap'
import { CREDENTIAL_PROBES, probeVerdict } from '../../src/atlassian/credential-probe.js'

const SCOPE_MISMATCH = JSON.stringify({ code: 401, message: 'Unauthorized; scope does not match' })
const UNAUTHORIZED = JSON.stringify({ code: 401, message: 'Unauthorized' })

t.test('one probe per product, the same for init and rotate', async (t) => {
  t.same(CREDENTIAL_PROBES, {
    jira: { path: '/rest/api/3/myself', scope: 'read:jira-user' },
    confluence: { path: '/wiki/rest/api/user/current', scope: 'read:confluence-user' }
  })
})

t.test('the verdict: works, works short of a scope or permission (with a warning naming it), refused, wrong cloudId, unavailable', async (t) => {
  t.same(probeVerdict('jira', { status: 200, body: '{}' }), { verdict: 'accepted' })
  t.match(probeVerdict('jira', { status: 401, body: SCOPE_MISMATCH }), { verdict: 'accepted', warning: /lacks the scope read:jira-user/ })
  t.match(probeVerdict('confluence', { status: 401, body: SCOPE_MISMATCH }), { verdict: 'accepted', warning: /lacks the scope read:confluence-user/ })
  t.match(probeVerdict('jira', { status: 403, body: '{"errorMessages":["no"]}' }), { verdict: 'accepted', warning: /403.*no permission in jira/ })
  t.match(probeVerdict('jira', { status: 401, body: UNAUTHORIZED }), { verdict: 'refused', reason: /answered 401/ })
  t.match(probeVerdict('jira', { status: 401, body: '<html>Tomcat</html>' }), { verdict: 'refused' })
  t.same(probeVerdict('jira', { status: 404, body: '' }), { verdict: 'wrong-cloud-id' })
  for (const status of [429, 500, 502, 503, 302]) t.match(probeVerdict('jira', { status, body: '' }), { verdict: 'unavailable' }, `${status}`)
})
