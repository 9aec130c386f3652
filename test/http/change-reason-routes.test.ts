/**
 * Why a credential changed, through the admin API: the `reason` of rotate and rollback is checked (400
 * BROKER_ERR_REASON_INVALID, never quoted), kept with the version the change wrote (history `reason`, null when none)
 * and written in the change's one audit record — against both stores.
 */
import t from 'tap'
import { auditSettled, startAdminHarness } from '../helpers/admin-harness.js'
import { STORE_KINDS } from '../helpers/test-stores.js'

const NEW_SECRET = 'svc-client-secret-ROTATED-777777'

for (const kind of STORE_KINDS) {
  t.test(`${kind} store: the reason of a rotation and a rollback is in the history and the audit`, async (t) => {
    const h = await startAdminHarness(t, kind)
    h.fake.addClient('svc-client-id-2', NEW_SECRET)
    const credential = { client_id: 'svc-client-id-2', client_secret: NEW_SECRET }
    const rotated = await h.admin('POST', '/admin/integrations/jira-main/rotate', { credential, reason: '  INC-4821: secret seen in a CI log  ' })
    t.equal(rotated.statusCode, 200)
    const rolled = await h.admin('POST', '/admin/integrations/jira-main/rollback',
      { toVersion: 1, reason: 'new secret lacks a scope ✓' })
    t.equal(rolled.statusCode, 200)
    const history = await h.admin('GET', '/admin/integrations/jira-main/history')
    const versions = history.body.versions as Array<Record<string, unknown>>
    t.same(versions.map(({ version, reason }) => ({ version, reason })), [
      { version: 3, reason: 'new secret lacks a scope ✓' },
      { version: 2, reason: 'INC-4821: secret seen in a CI log' },
      { version: 1, reason: null }
    ], 'trimmed, per version, null when none was given')
    t.match(await auditSettled(h, 2), [
      { action: 'rotate', outcome: 'ok', newVersion: 2, reason: 'INC-4821: secret seen in a CI log' },
      { action: 'rollback', outcome: 'ok', newVersion: 3, reason: 'new secret lacks a scope ✓' }
    ])
    const blank = await h.admin('POST', '/admin/integrations/jira-main/rollback', { toVersion: 1, reason: '   ' })
    t.equal(blank.statusCode, 200, 'a blank reason is no reason')
    const records = await auditSettled(h, 3)
    t.notOk('reason' in (records[2] ?? {}), 'and the record has none')
  })

  t.test(`${kind} store: a reason too long or with control characters is 400 BROKER_ERR_REASON_INVALID`, async (t) => {
    const h = await startAdminHarness(t, kind)
    h.fake.addClient('svc-client-id-2', NEW_SECRET)
    const credential = { client_id: 'svc-client-id-2', client_secret: NEW_SECRET }
    const refused: Array<[string, string, RegExp]> = [
      ['x'.repeat(129), 'one character too many', /129 characters; at most 128/],
      ['ticket\nrm -rf /', 'a line break', /character 7 is a control character \(U\+000A\)/],
      ['a\u001b[31mred', 'an escape', /U\+001B/],
      ['evil\u202Etxt.exe', 'a bidirectional override', /U\+202E/],
      ['half \ud800 pair', 'a lone surrogate', /lone surrogate/]
    ]
    for (const [reason, what, message] of refused) {
      for (const [url, body] of [['rotate', { credential, reason }], ['rollback', { toVersion: 1, reason }]] as const) {
        const answer = await h.admin('POST', `/admin/integrations/jira-main/${url}`, body)
        t.match(answer, { statusCode: 400, body: { code: 'BROKER_ERR_REASON_INVALID', message } }, `${url}: ${what}`)
        t.notOk(JSON.stringify(answer.body).includes(reason.slice(0, 5)), `${url}: the text is not quoted back`)
      }
    }
    t.match(await h.admin('POST', '/admin/integrations/jira-main/rotate', { credential, reason: 42 }),
      { statusCode: 400, body: { code: 'BROKER_ERR_BAD_REQUEST', message: /field "reason" is not a string/ } })
    t.equal(await h.store.currentVersion('jira-main'), 1, 'nothing was written')
    t.equal(h.fake.exchangesFor('svc-client-id-2'), 0, 'nor verified: the reason is checked first')
    const records = await auditSettled(h, refused.length * 2 + 1)
    t.equal(records.length, refused.length * 2 + 1, 'every refused attempt is audited')
    t.ok(records.slice(0, -1).every((record) => record.outcome === 'refused' && record.code === 'BROKER_ERR_REASON_INVALID' && !('reason' in record)),
      'as refused, with the code, without the text')
    t.equal((await h.admin('POST', '/admin/integrations/jira-main/rotate', { credential, reason: '😀'.repeat(128) })).statusCode, 200,
      '128 characters of four bytes each are accepted')
  })
}
