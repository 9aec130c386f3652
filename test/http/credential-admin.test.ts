/** The admin credential API: access, state, rotate, rollback, history, drop token, audit — against both stores. */
import { statSync } from 'node:fs'
import t from 'tap'
import { request } from 'undici'
import { CLIENT_ID, CLIENT_SECRET, JIRA_CLOUD_ID, startHarness, WIKI_CLOUD_ID } from '../helpers/broker-harness.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'
import { auditSettled, startAdminHarness, type AdminHarness } from '../helpers/admin-harness.js'
import { STORE_KINDS } from '../helpers/test-stores.js'

const NEW_SECRET = 'svc-client-secret-ROTATED-555555'
const SECRETS = [CLIENT_SECRET, NEW_SECRET, 'wrong-secret-value-123456']

async function proxied (h: AdminHarness, path = '/rest/api/3/myself'): Promise<{ statusCode: number, body: Record<string, unknown> }> {
  const response = await request(`${h.url}/proxy/jira-main${path}`, { headers: { authorization: `Bearer ${h.callerToken('report-job')}` } })
  return { statusCode: response.statusCode, body: await response.body.json() as Record<string, unknown> }
}

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0]

function assertNoSecrets (t: TapTest, texts: string[]): void {
  const all = texts.join('\n')
  for (const secret of SECRETS) t.notOk(all.includes(secret), `no secret (${secret.slice(0, 8)}…) leaks`)
}

t.test('the admin API is off by default, and needs the admin role when on', async (t) => {
  const off = await startHarness(t)
  const token = off.callerToken('ops-alice', { roles: ['broker-admin'] })
  const answer = await off.broker.app.inject({ method: 'GET', url: '/admin/integrations', headers: { authorization: `Bearer ${token}` } })
  t.equal(answer.statusCode, 403)
  t.match(answer.json(), { code: 'BROKER_ERR_ADMIN_FORBIDDEN', message: /callers\.admin\.role/ })
  const rotate = await off.broker.app.inject({ method: 'POST', url: '/admin/integrations/jira-main/rotate', headers: { authorization: `Bearer ${token}` }, payload: { credential: {} } })
  t.equal(rotate.statusCode, 403, 'no rotation either')

  const h = await startAdminHarness(t, 'file')
  t.equal((await h.admin('GET', '/admin/integrations', undefined, h.callerToken('report-job'))).statusCode, 403, 'a caller without the role')
  const anonymous = await h.broker.app.inject({ method: 'POST', url: '/admin/integrations/jira-main/rotate', payload: 'not even json', headers: { 'content-type': 'application/json' } })
  t.equal(anonymous.statusCode, 401, 'no token: 401 before the body is parsed')
  t.equal((await h.admin('GET', '/admin/integrations')).statusCode, 200)
  t.equal(h.auditRecords().length, 0, 'reads are not audited')
})

for (const kind of STORE_KINDS) {
  t.test(`${kind} store: state, rotation with overlap, audit without secrets`, async (t) => {
    const h = await startAdminHarness(t, kind)
    await h.store.updateMetadata('jira-main', { expires_at: new Date(Date.now() + 45 * 86_400_000).toISOString(), owner: 'platform' })
    t.equal((await proxied(h)).statusCode, 200)

    const listed = await h.admin('GET', '/admin/integrations')
    t.equal(listed.statusCode, 200)
    t.equal(listed.body.store, kind)
    const jira = (listed.body.integrations as Array<Record<string, unknown>>).find((entry) => entry.integration === 'jira-main')
    t.match(jira, {
      product: 'jira',
      credential: 'oauth',
      storeVersion: 1,
      versionInUse: 1,
      fallbackFrom: null,
      accessToken: { cached: true, secretVersion: 1 },
      lastExchange: { outcome: 'ok' },
      daysToExpiry: 44,
      owner: 'platform'
    })
    t.ok(((jira?.accessToken as { expiresInSeconds: number }).expiresInSeconds) > 3000, 'remaining lifetime shown')

    // Atlassian side first: the new secret works, the old one is refused from now on (minted tokens still live).
    h.fake.setClientSecret(CLIENT_ID, NEW_SECRET)
    const rotated = await h.admin('POST', '/admin/integrations/jira-main/rotate', {
      credential: { client_id: CLIENT_ID, client_secret: NEW_SECRET }, expiresAt: '2027-09-30', owner: 'team-reports', expectedVersion: 1
    })
    t.equal(rotated.statusCode, 200)
    t.match(rotated.body, { integration: 'jira-main', oldVersion: 1, newVersion: 2, verified: true, expiresAt: '2027-09-30T00:00:00.000Z' })
    const exchangesAfterRotation = h.fake.exchangesFor(CLIENT_ID)

    const single = await h.admin('GET', '/admin/integrations/jira-main')
    t.match(single.body, { storeVersion: 2, versionInUse: 2, accessToken: { cached: true, secretVersion: 1 }, owner: 'team-reports', rotatedBy: 'ops-alice' },
      'overlap: new exchanges use version 2, the token minted from version 1 is still in use')
    t.equal((await proxied(h)).statusCode, 200)
    t.equal(h.fake.exchangesFor(CLIENT_ID), exchangesAfterRotation, 'the old token served that call: no new exchange')

    h.fake.revokeTokensOf(CLIENT_ID)
    t.equal((await proxied(h)).statusCode, 200, 'a refused old token is replaced from version 2')
    t.match((await h.admin('GET', '/admin/integrations/jira-main')).body, { accessToken: { secretVersion: 2 } })

    const history = await h.admin('GET', '/admin/integrations/jira-main/history')
    t.match(history.body, { currentVersion: 2, versionInUse: 2, rotatedBy: 'ops-alice', versions: [{ version: 2, writtenBy: 'ops-alice', current: true, readable: true }, { version: 1, current: false }] })

    const records = await auditSettled(h, 1)
    t.equal(records.length, 1, 'one audit record for the one action')
    t.match(records[0], { type: 'admin-audit', actor: 'ops-alice', action: 'rotate', integration: 'jira-main', via: 'admin-api', oldVersion: 1, newVersion: 2, outcome: 'ok', requestId: String })
    t.equal(statSync(h.auditFile).mode & 0o777, 0o600, 'audit file is 0600')
    assertNoSecrets(t, [JSON.stringify(rotated.body), JSON.stringify(history.body), JSON.stringify(records), ...h.logs])
    t.ok(h.logs.some((line) => line.includes('"audit"') && line.includes('"action":"rotate"')), 'the audit record is in the log too')
  })

  t.test(`${kind} store: a wrong new secret is refused (422), nothing stored, the refusal audited`, async (t) => {
    const h = await startAdminHarness(t, kind)
    const refused = await h.admin('POST', '/admin/integrations/jira-main/rotate', { credential: { client_id: CLIENT_ID, client_secret: 'wrong-secret-value-123456' } })
    t.equal(refused.statusCode, 422)
    t.equal(refused.body.code, 'BROKER_ERR_CREDENTIAL_VERIFICATION_FAILED')
    t.equal(await h.store.currentVersion('jira-main'), 1)
    const invalid = await h.admin('POST', '/admin/integrations/jira-main/rotate', { credential: { client_id: CLIENT_ID, client_secret: 'wrong-secret-value-123456', extra: 'x' } })
    t.equal(invalid.statusCode, 400)
    t.equal(invalid.body.code, 'BROKER_ERR_CREDENTIAL_INVALID')
    const badBody = await h.admin('POST', '/admin/integrations/jira-main/rotate', { credential: {}, expiresAt: 5, client_secret: 'wrong-secret-value-123456' })
    t.equal(badBody.statusCode, 400)
    t.equal(badBody.body.code, 'BROKER_ERR_BAD_REQUEST')
    const otherKind = await h.admin('POST', '/admin/integrations/jira-main/rotate', { credential: { token: 'an-api-token-value-0123456789' } })
    t.match(otherKind, { statusCode: 409, body: { code: 'BROKER_ERR_STATE_CONFLICT', message: /takes oauth credentials, and this is a well-formed api-token credential/ } },
      'a well-formed credential of the other kind: a conflict with the integration\'s config, not bad input')
    t.equal(await h.store.currentVersion('jira-main'), 1, 'nothing stored')
    const records = await auditSettled(h, 4)
    t.match(records, [
      { action: 'rotate', outcome: 'refused', code: 'BROKER_ERR_CREDENTIAL_VERIFICATION_FAILED', oldVersion: 1, newVersion: null },
      { action: 'rotate', outcome: 'refused', code: 'BROKER_ERR_CREDENTIAL_INVALID' },
      // Refused before the action ran, and recorded all the same (issue 16: such refusals left no record).
      { action: 'rotate', outcome: 'refused', code: 'BROKER_ERR_BAD_REQUEST', detail: /refused before the rotate/ },
      { action: 'rotate', outcome: 'refused', code: 'BROKER_ERR_STATE_CONFLICT' }
    ])
    t.equal(records.length, 4, 'a body that fails validation never reaches the action, but its refusal is recorded')
    assertNoSecrets(t, [
      JSON.stringify(refused.body),
      JSON.stringify(invalid.body),
      JSON.stringify(badBody.body),
      JSON.stringify(otherKind.body),
      JSON.stringify(records),
      ...h.logs
    ])
  })

  t.test(`${kind} store: two concurrent rotations through the API — one 200, one 409`, async (t) => {
    const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }, { product: 'confluence', cloudId: WIKI_CLOUD_ID }], slowTokenDelayMs: 200 })
    const h = await startAdminHarness(t, kind, { fake })
    fake.tokenEndpointMode = 'slow' // both rotators are inside verification at the same time
    const results = await Promise.all([
      h.admin('POST', '/admin/integrations/jira-main/rotate', { credential: { client_id: CLIENT_ID, client_secret: CLIENT_SECRET } }, h.adminToken('ops-alice')),
      h.admin('POST', '/admin/integrations/jira-main/rotate', { credential: { client_id: CLIENT_ID, client_secret: CLIENT_SECRET } }, h.adminToken('ops-bob'))
    ])
    t.same(results.map((result) => result.statusCode).sort(), [200, 409])
    t.equal(results.find((result) => result.statusCode === 409)?.body.code, 'BROKER_ERR_SECRET_VERSION_CONFLICT')
    t.equal(await h.store.currentVersion('jira-main'), 2)
    const records = await auditSettled(h, 2)
    t.same(records.map((record) => record.outcome).sort(), ['conflict', 'ok'])
    const stale = await h.admin('POST', '/admin/integrations/jira-main/rotate', { credential: { client_id: CLIENT_ID, client_secret: CLIENT_SECRET }, expectedVersion: 1 })
    t.equal(stale.statusCode, 409, 'expectedVersion older than the store')
  })

  t.test(`${kind} store: rollback restores the previous credential; drop token makes the next call use it`, async (t) => {
    const h = await startAdminHarness(t, kind)
    h.fake.addClient('svc-client-id-2', NEW_SECRET)
    t.equal((await h.admin('POST', '/admin/integrations/jira-main/rotate', { credential: { client_id: 'svc-client-id-2', client_secret: NEW_SECRET } })).statusCode, 200)
    t.equal((await proxied(h)).statusCode, 200)
    t.equal(h.fake.exchangesFor('svc-client-id-2'), 2, 'verification, then the first exchange after the rotation')

    const rolled = await h.admin('POST', '/admin/integrations/jira-main/rollback', {})
    t.equal(rolled.statusCode, 200)
    t.match(rolled.body, { oldVersion: 2, newVersion: 3, restoredVersion: 1 })
    const dropped = await h.admin('DELETE', '/admin/integrations/jira-main/token')
    t.same(dropped.body, { integration: 'jira-main', dropped: true })
    const before = h.fake.exchangesFor(CLIENT_ID)
    t.equal((await proxied(h)).statusCode, 200)
    t.equal(h.fake.exchangesFor(CLIENT_ID), before + 1, 'the next exchange uses the restored credential')
    t.equal((await h.store.get('jira-main'))?.data.client_id, CLIENT_ID)
    t.match((await h.admin('GET', '/admin/integrations/jira-main')).body, { storeVersion: 3, versionInUse: 3, accessToken: { secretVersion: 3 } })

    const notOlder = await h.admin('POST', '/admin/integrations/jira-main/rollback', { toVersion: 3 })
    t.match(notOlder, { statusCode: 409, body: { code: 'BROKER_ERR_STATE_CONFLICT' } }, 'not older than the current version')
    t.equal((await h.admin('POST', '/admin/integrations/jira-main/rollback', { toVersion: 99 })).statusCode, 409)
    t.match(await h.admin('POST', '/admin/integrations/jira-main/rollback', { toVersion: 2_147_483_648 }), { statusCode: 400, body: { code: 'BROKER_ERR_BAD_REQUEST' } }, 'past the documented maximum')
    const records = await auditSettled(h, 6)
    t.match(records.slice(0, 3), [
      { action: 'rotate', outcome: 'ok', oldVersion: 1, newVersion: 2 },
      { action: 'rollback', outcome: 'ok', oldVersion: 2, newVersion: 3, detail: 'restored version 1' },
      { action: 'drop-token', outcome: 'ok', oldVersion: 2 }
    ])
    t.match(records.slice(3), [{ action: 'rollback', outcome: 'refused', code: 'BROKER_ERR_STATE_CONFLICT' }, { action: 'rollback', outcome: 'refused' }, { action: 'rollback', outcome: 'refused', code: 'BROKER_ERR_BAD_REQUEST' }])
    assertNoSecrets(t, [JSON.stringify(records), ...h.logs])
  })

  t.test(`${kind} store: a credential Atlassian starts rejecting is reported as such`, async (t) => {
    const h = await startAdminHarness(t, kind)
    h.fake.setClientSecret(CLIENT_ID, 'changed-at-atlassian-0000')
    const answer = await proxied(h)
    t.equal(answer.statusCode, 502)
    t.equal(answer.body.code, 'BROKER_ERR_CREDENTIAL_REJECTED', 'not a generic upstream error')
    t.match((await h.admin('GET', '/admin/integrations/jira-main')).body, { lastExchange: { outcome: 'rejected' }, accessToken: { cached: false } })
    t.ok(h.logs.some((line) => line.includes('Atlassian rejected the credential; check or rotate it')))
  })
}

t.test('unknown integrations and routes', async (t) => {
  const h = await startAdminHarness(t, 'file')
  const missing = await h.admin('GET', '/admin/integrations/nope')
  t.equal(missing.statusCode, 404)
  t.equal(missing.body.code, 'BROKER_ERR_INTEGRATION_NOT_FOUND')
  t.equal((await h.admin('POST', '/admin/integrations/nope/rotate', { credential: {} })).statusCode, 404)
  t.equal((await h.admin('DELETE', '/admin/integrations/wiki-main/token')).body.dropped, false, 'nothing cached yet')
})

t.test('a prototype name (constructor, __proto__, toString) is an unknown integration to the admin API and the proxy', async (t) => {
  const h = await startAdminHarness(t, 'file')
  for (const name of ['constructor', '__proto__', 'toString']) {
    for (const [method, url, body] of [['GET', `/admin/integrations/${name}`], ['GET', `/admin/integrations/${name}/history`], ['POST', `/admin/integrations/${name}/rotate`, { credential: { token: 'x' } }], ['POST', `/admin/integrations/${name}/rollback`, {}]] as const) {
      const answer = await h.admin(method, url, body)
      t.equal(answer.statusCode, 404, `${method} ${url}`)
      t.equal(answer.body.code, 'BROKER_ERR_INTEGRATION_NOT_FOUND', `${method} ${url}`)
    }
    const proxied = await request(`${h.url}/proxy/${name}/rest/api/3/myself`, { headers: { authorization: `Bearer ${h.callerToken('report-job')}` } })
    const answer = await proxied.body.json() as { code: string }
    t.equal(proxied.statusCode, 404, `proxy ${name}`)
    t.equal(answer.code, 'BROKER_ERR_INTEGRATION_NOT_FOUND', `proxy ${name}`)
  }
})
