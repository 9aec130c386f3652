/**
 * Every refused admin attempt leaves an audit record (issue 16, item 6), also those refused before the action ran:
 * a body that is not JSON or has unknown fields, an expiry that is no real date (item 5), an unknown integration, a
 * caller without the admin role. Unauthenticated attempts go to the (sampled) log only.
 */
import t from 'tap'
import { auditSettled, startAdminHarness } from '../helpers/admin-harness.js'
import { CLIENT_ID } from '../helpers/broker-harness.js'

const NEW_SECRET = 'refusal-audit-new-secret-0123456789'

t.test('regression: refused admin attempts with malformed JSON or unknown fields left no audit record', async (t) => {
  const h = await startAdminHarness(t, 'file')
  const inject = (method: 'POST' | 'DELETE', url: string, payload: string | undefined, token: string | null = h.adminToken()) => h.broker.app.inject({
    method,
    url,
    ...(payload === undefined ? {} : { payload }),
    headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...(payload === undefined ? {} : { 'content-type': 'application/json' }) }
  })
  const attempts: Array<[string, Awaited<ReturnType<typeof inject>>, Record<string, unknown>]> = [
    ['malformed JSON', await inject('POST', '/admin/integrations/jira-main/rotate', `{"credential": {"client_secret": ${NEW_SECRET}`),
      { action: 'rotate', integration: 'jira-main', outcome: 'refused', code: 'BROKER_ERR_BAD_REQUEST', actor: 'ops-alice' }],
    ['unknown field', await inject('POST', '/admin/integrations/jira-main/rotate', JSON.stringify({ credential: { client_id: CLIENT_ID, client_secret: NEW_SECRET }, expires: '2027-01-01' })),
      { action: 'rotate', outcome: 'refused', code: 'BROKER_ERR_BAD_REQUEST', detail: /unexpected field/ }],
    ['rollback with an unknown field', await inject('POST', '/admin/integrations/jira-main/rollback', JSON.stringify({ version: 1 })),
      { action: 'rollback', outcome: 'refused', code: 'BROKER_ERR_BAD_REQUEST' }],
    ['expiresAt 2027-02-30', await inject('POST', '/admin/integrations/jira-main/rotate', JSON.stringify({ credential: { client_id: CLIENT_ID, client_secret: NEW_SECRET }, expiresAt: '2027-02-30' })),
      { action: 'rotate', outcome: 'refused', code: 'BROKER_ERR_BAD_REQUEST' }],
    ['expiresAt garbage', await inject('POST', '/admin/integrations/jira-main/rotate', JSON.stringify({ credential: { client_id: CLIENT_ID, client_secret: NEW_SECRET }, expiresAt: 'garbage 1' })),
      { action: 'rotate', outcome: 'refused', code: 'BROKER_ERR_BAD_REQUEST' }],
    ['unknown integration', await inject('DELETE', '/admin/integrations/no-such-thing/token', undefined),
      { action: 'drop-token', integration: 'no-such-thing', outcome: 'refused', code: 'BROKER_ERR_INTEGRATION_NOT_FOUND' }],
    ['caller without the admin role', await inject('POST', '/admin/integrations/jira-main/rotate', '{}', h.callerToken('report-job')),
      { action: 'rotate', actor: 'report-job', outcome: 'refused', code: 'BROKER_ERR_ADMIN_FORBIDDEN' }]
  ]
  const unauthenticated = await inject('POST', '/admin/integrations/jira-main/rotate', '{}', null)
  t.equal(unauthenticated.statusCode, 401)

  const records = await auditSettled(h, attempts.length)
  t.equal(records.length, attempts.length, 'one record per refused attempt by a known caller, none for the unauthenticated one')
  attempts.forEach(([name, response, expected], index) => {
    t.ok(response.statusCode >= 400 && response.statusCode < 500, `${name}: refused (${response.statusCode})`)
    t.match(records[index], { type: 'admin-audit', via: 'admin-api', requestId: response.headers['x-request-id'], ...expected }, `${name}: recorded`)
  })
  const text = JSON.stringify(records) + h.logs.join('\n')
  t.notOk(text.includes(NEW_SECRET), 'no record or log line holds the secret from a refused body')
  t.equal(await h.store.currentVersion('jira-main'), 1, 'nothing was stored')
})

t.test('an attempt that ran its action is recorded once, not again by the refusal hook', async (t) => {
  const h = await startAdminHarness(t, 'file')
  const refused = await h.admin('POST', '/admin/integrations/jira-main/rotate', { credential: { client_id: CLIENT_ID, client_secret: 'refused-by-atlassian-0123456789' } })
  t.equal(refused.statusCode, 422)
  const dropped = await h.admin('DELETE', '/admin/integrations/jira-main/token')
  t.equal(dropped.statusCode, 200)
  const records = await auditSettled(h, 2)
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(h.auditRecords().length, 2)
  t.match(records, [{ action: 'rotate', outcome: 'refused', code: 'BROKER_ERR_CREDENTIAL_VERIFICATION_FAILED' }, { action: 'drop-token', outcome: 'ok' }])
})
