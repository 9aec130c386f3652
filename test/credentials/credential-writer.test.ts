/** The one credential write path: verify (or not, on purpose), compare-and-set, one audit record, announce. */
import { readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { createCredentialVerifier } from '../../src/atlassian/credential-probe.js'
import type { IntegrationConfig } from '../../src/config/schema.js'
import { AuditLog } from '../../src/credentials/audit.js'
import { CredentialWriter } from '../../src/credentials/credential-writer.js'
import type { RotationResult } from '../../src/credentials/rotation.js'
import { createLogger } from '../../src/logger.js'
import { CLIENT_ID, CLIENT_SECRET, JIRA_CLOUD_ID } from '../helpers/broker-harness.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { openTestStore } from '../helpers/test-stores.js'

const OAUTH: IntegrationConfig = { product: 'jira', cloudId: JIRA_CLOUD_ID, credential: 'oauth' }
type T = Parameters<Parameters<typeof t.test>[0]>[0]

async function setup (t: T, announce?: (result: RotationResult) => Promise<boolean | undefined>): Promise<{
  writer: CredentialWriter
  fake: FakeAtlassian
  records: () => Array<Record<string, unknown>>
  audit: AuditLog
}> {
  const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }] })
  fake.addClient(CLIENT_ID, CLIENT_SECRET)
  const clock = new ManualClock(Date.UTC(2026, 5, 1))
  const { store } = await openTestStore(t, 'file', { clock })
  const file = path.join(t.testdir({}), 'credential-audit.jsonl')
  const audit = new AuditLog({ logger: createLogger({ level: 'silent' }), clock, file })
  t.teardown(() => audit.close())
  const verify = createCredentialVerifier({ tokenUrl: fake.tokenUrl, apiUrl: fake.url, timeoutMs: 2_000 })
  const writer = new CredentialWriter({ store, verify, audit, clock, via: 'cli', announce })
  const records = (): Array<Record<string, unknown>> => {
    let text = ''
    try { text = readFileSync(file, 'utf8') } catch { return [] }
    return text.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>)
  }
  return { writer, fake, records, audit }
}

t.test('regression: `secrets put` stored without verification and without an audit record; a put is now verified and audited', async (t) => {
  const { writer, fake, records, audit } = await setup(t)
  await t.rejects(writer.write('put', { integration: 'jira-main', config: OAUTH, credential: { client_id: CLIENT_ID, client_secret: 'wrong-secret-0000000' }, actor: 'ops@cli' }),
    { code: 'BROKER_ERR_CREDENTIAL_VERIFICATION_FAILED' })
  t.equal(await writer.store.currentVersion('jira-main'), undefined, 'a refused credential is not stored')
  const put = await writer.write('put', { integration: 'jira-main', config: OAUTH, credential: { client_id: CLIENT_ID, client_secret: CLIENT_SECRET }, actor: 'ops@cli' })
  t.match(put, { oldVersion: undefined, newVersion: 1, check: { credential: 'oauth', probe: { path: '/rest/api/3/myself', status: 200 } }, announced: undefined })
  t.equal(fake.exchangesFor(CLIENT_ID), 2, 'one exchange per attempt')
  await audit.close()
  t.match(records(), [
    { action: 'put', outcome: 'refused', code: 'BROKER_ERR_CREDENTIAL_VERIFICATION_FAILED', oldVersion: null, via: 'cli', actor: 'ops@cli' },
    { action: 'put', outcome: 'ok', oldVersion: null, newVersion: 1, detail: 'verified: token exchange and GET /rest/api/3/myself answered 200' }
  ])
})

t.test('verify: false stores a credential Atlassian cannot check yet, without asking it, and says so in the audit', async (t) => {
  const { writer, fake, records, audit } = await setup(t)
  const result = await writer.write('rotate', { integration: 'jira-main', config: OAUTH, credential: { client_id: 'not-yet-known', client_secret: 'pending-secret-000000' }, actor: 'ops', verify: false })
  t.equal(result.check, undefined)
  t.equal(result.newVersion, 1)
  t.equal(fake.exchanges, 0, 'Atlassian was not asked')
  t.equal(fake.requests.length, 0)
  await audit.close()
  t.match(records(), [{ action: 'rotate', outcome: 'ok', detail: 'stored without verification (verify: false)' }])
})

t.test('the write is announced with its versions; an announcement that throws leaves the write standing', async (t) => {
  const told: Array<{ integration: string, oldVersion: number | undefined, newVersion: number }> = []
  let fail = false
  const { writer } = await setup(t, async (result) => {
    if (fail) throw new Error('redis down')
    told.push({ integration: result.integration, oldVersion: result.oldVersion, newVersion: result.newVersion })
    return true
  })
  const first = await writer.write('init', { integration: 'jira-main', config: OAUTH, credential: { client_id: CLIENT_ID, client_secret: CLIENT_SECRET }, actor: 'a' })
  t.equal(first.announced, true)
  fail = true
  const rotated = await writer.write('rotate', { integration: 'jira-main', config: OAUTH, credential: { client_id: CLIENT_ID, client_secret: CLIENT_SECRET }, actor: 'a' })
  t.equal(rotated.announced, false, 'the fleet could not be told')
  t.equal(await writer.store.currentVersion('jira-main'), 2, 'the write stands')
  t.same(told, [{ integration: 'jira-main', oldVersion: undefined, newVersion: 1 }])
})

t.test('regression: the credential audit file grew without a cap; past maxFileBytes it rotates to <file>.1 like the call audit', async (t) => {
  const file = path.join(t.testdir({}), 'nested', 'admin-audit.jsonl')
  const audit = new AuditLog({ logger: createLogger({ level: 'silent' }), clock: new ManualClock(0), file, maxFileBytes: 4_096 })
  for (let index = 0; index < 100; index++) {
    audit.record({ actor: `ops-${index}`, action: 'rotate', integration: 'jira-main', via: 'cli', outcome: 'refused', code: 'BROKER_ERR_CREDENTIAL_VERIFICATION_FAILED' })
  }
  await audit.close()
  t.ok(statSync(file).size <= 4_096, `the current file stays within the cap (${statSync(file).size} bytes)`)
  t.ok(statSync(`${file}.1`).size <= 4_096, 'so does the one rotated copy')
  t.equal(statSync(file).mode & 0o777, 0o600, 'mode 0600, as before')
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { actor: string })
  t.equal(lines.at(-1)?.actor, 'ops-99', 'the newest record is kept')
})

t.test('a reason is checked first, kept with the version it wrote and in the audit record; a refused one is not copied', async (t) => {
  const { writer, fake, records, audit } = await setup(t)
  const credential = { client_id: CLIENT_ID, client_secret: CLIENT_SECRET }
  await t.rejects(writer.write('put', { integration: 'jira-main', config: OAUTH, credential, actor: 'ops', reason: 'x'.repeat(129) }),
    { code: 'BROKER_ERR_REASON_INVALID', statusCode: 400 })
  t.equal(fake.exchanges, 0, 'refused before Atlassian is asked')
  await writer.write('put', { integration: 'jira-main', config: OAUTH, credential, actor: 'ops', reason: ' first setup ' })
  await writer.write('rotate', { integration: 'jira-main', config: OAUTH, credential, actor: 'ops' })
  await writer.rollback({ integration: 'jira-main', config: OAUTH, actor: 'ops', toVersion: 1, reason: 'back to 1' })
  t.same((await writer.store.history('jira-main')).map(({ version, reason }) => ({ version, reason })), [
    { version: 1, reason: 'first setup' }, { version: 2, reason: undefined }, { version: 3, reason: 'back to 1' }
  ])
  await audit.close()
  const written = records()
  t.match(written, [
    { action: 'put', outcome: 'refused', code: 'BROKER_ERR_REASON_INVALID' },
    { action: 'put', outcome: 'ok', newVersion: 1, reason: 'first setup' },
    { action: 'rotate', outcome: 'ok', newVersion: 2 },
    { action: 'rollback', outcome: 'ok', newVersion: 3, reason: 'back to 1' }
  ])
  t.notOk('reason' in (written[0] ?? {}) || 'reason' in (written[2] ?? {}), 'no reason field when none was kept')
})
