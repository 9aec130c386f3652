/** rotateCredential / rollbackCredential / credentialHistory against both stores, verified by the fake Atlassian. */
import t from 'tap'
import type { IntegrationConfig } from '../../src/config/schema.js'
import { credentialHistory, rollbackCredential, rotateCredential, type RotationContext } from '../../src/credentials/rotation.js'
import { createCredentialVerifier, type CredentialVerifier } from '../../src/atlassian/credential-probe.js'
import { CLIENT_ID, CLIENT_SECRET, JIRA_CLOUD_ID, WIKI_CLOUD_ID } from '../helpers/broker-harness.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { openTestStore, STORE_KINDS, type StoreKind } from '../helpers/test-stores.js'

const OAUTH: IntegrationConfig = { product: 'jira', cloudId: JIRA_CLOUD_ID, credential: 'oauth' }
const JIRA_TOKEN: IntegrationConfig = { product: 'jira', cloudId: JIRA_CLOUD_ID, credential: 'api-token' }
const WIKI_TOKEN: IntegrationConfig = { product: 'confluence', cloudId: WIKI_CLOUD_ID, credential: 'api-token' }
const NEW_SECRET = 'svc-client-secret-NEW-9876543210'

type T = Parameters<Parameters<typeof t.test>[0]>[0]

async function setup (
  t: T,
  kind: StoreKind
): Promise<{ context: RotationContext, fake: FakeAtlassian, clock: ManualClock }> {
  const fake = await FakeAtlassian.start({
    t,
    sites: [
      { product: 'jira', cloudId: JIRA_CLOUD_ID },
      { product: 'confluence', cloudId: WIKI_CLOUD_ID }
    ]
  })
  fake.addClient(CLIENT_ID, CLIENT_SECRET)
  const clock = new ManualClock(Date.now())
  const { store } = await openTestStore(t, kind, { clock })
  await store.put(
    'jira-main',
    { client_id: CLIENT_ID, client_secret: CLIENT_SECRET },
    { metadata: { owner: 'platform', rotated_by: 'setup' } }
  )
  const verify = createCredentialVerifier({ tokenUrl: fake.tokenUrl, apiUrl: fake.url, timeoutMs: 2_000 })
  return { context: { store, verify, clock }, fake, clock }
}

for (const kind of STORE_KINDS) {
  t.test(`${kind} store: a verified credential is written as a new version with its metadata`, async (t) => {
    const { context, fake, clock } = await setup(t, kind)
    fake.setClientSecret(CLIENT_ID, NEW_SECRET)
    const result = await rotateCredential(context, {
      integration: 'jira-main', config: OAUTH, credential: { client_id: CLIENT_ID, client_secret: NEW_SECRET }, actor: 'alice', expiresAt: '2027-06-30', owner: 'team-reports'
    })
    t.match(result, { oldVersion: 1, newVersion: 2, notes: [] })
    t.equal(fake.exchangesFor(CLIENT_ID), 1, 'verified with one exchange')
    t.same((await context.store.get('jira-main'))?.data, { client_id: CLIENT_ID, client_secret: NEW_SECRET })
    t.same(await context.store.metadata('jira-main'), {
      rotated_at: new Date(clock.now()).toISOString(), rotated_by: 'alice', expires_at: '2027-06-30T00:00:00.000Z', owner: 'team-reports'
    })
    const history = await credentialHistory(context.store, 'jira-main')
    t.match(history, { currentVersion: 2, versions: [{ version: 2, writtenBy: 'alice', readable: true }, { version: 1, readable: true }] })
    t.notMatch(JSON.stringify(history), /svc-client-secret/, 'history holds no values')
  })

  t.test(`${kind} store: verify before commit — a wrong new secret is refused and the current version is unchanged`, async (t) => {
    const { context } = await setup(t, kind)
    await t.rejects(rotateCredential(context, {
      integration: 'jira-main', config: OAUTH, credential: { client_id: CLIENT_ID, client_secret: 'not-the-secret' }, actor: 'alice', expiresAt: '2027-01-01'
    }), { code: 'BROKER_ERR_CREDENTIAL_VERIFICATION_FAILED', statusCode: 422 })
    t.equal(await context.store.currentVersion('jira-main'), 1)
    t.same((await context.store.get('jira-main'))?.data.client_secret, CLIENT_SECRET)
    t.same(await context.store.metadata('jira-main'), { owner: 'platform', rotated_by: 'setup' }, 'metadata untouched')
  })

  t.test(`${kind} store: an invalid document is refused before anything is sent`, async (t) => {
    const { context, fake } = await setup(t, kind)
    const error = await rotateCredential(context, { integration: 'jira-main', config: OAUTH, credential: { client_id: CLIENT_ID, client_secret: 'x', expires_at: '2027' }, actor: 'a' }).catch((e: Error) => e)
    t.match(error, { code: 'BROKER_ERR_CREDENTIAL_INVALID' })
    t.notMatch(String((error as Error).message), /svc-client-id/, 'values are not echoed')
    t.equal(fake.exchanges, 0)
  })

  t.test(`${kind} store: CAS race — two concurrent rotations, exactly one wins, the other gets 409`, async (t) => {
    const { context } = await setup(t, kind)
    // Both rotators pass verification before either writes, as two operators racing would.
    let arrived = 0
    let release: () => void = () => {}
    const barrier = new Promise<void>((resolve) => { release = resolve })
    const verify: CredentialVerifier = async (_name, config) => {
      if (++arrived === 2) release()
      await barrier
      return { credential: config.credential, probe: { path: '/rest/api/3/myself', status: 200 } }
    }
    const racing = { ...context, verify }
    const results = await Promise.allSettled(['secret-from-alice-0001', 'secret-from-bob-00002'].map((secret, index) =>
      rotateCredential(racing, { integration: 'jira-main', config: OAUTH, credential: { client_id: CLIENT_ID, client_secret: secret }, actor: index === 0 ? 'alice' : 'bob' })))
    const won = results.filter((result) => result.status === 'fulfilled')
    const lost = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected')
    t.equal(won.length, 1, 'one rotation wins')
    t.equal(lost.length, 1, 'one loses')
    t.match(lost[0]?.reason, { code: 'BROKER_ERR_SECRET_VERSION_CONFLICT', statusCode: 409 })
    t.equal(await context.store.currentVersion('jira-main'), 2, 'exactly one new version')
    const history = await credentialHistory(context.store, 'jira-main')
    t.equal(history.versions.length, 2)
  })

  t.test(`${kind} store: a stale expectedVersion is a conflict, without asking Atlassian`, async (t) => {
    const { context, fake } = await setup(t, kind)
    await t.rejects(rotateCredential(context, { integration: 'jira-main', config: OAUTH, credential: { client_id: CLIENT_ID, client_secret: CLIENT_SECRET }, actor: 'a', expectedVersion: 7 }),
      { code: 'BROKER_ERR_SECRET_VERSION_CONFLICT' })
    t.equal(fake.exchanges, 0)
    const first = await rotateCredential(context, { integration: 'jira-main', config: OAUTH, credential: { client_id: CLIENT_ID, client_secret: CLIENT_SECRET }, actor: 'a', expectedVersion: 1 })
    t.equal(first.newVersion, 2)
    t.match(first.notes, [], 'no leftover expiry to mention')
  })

  t.test(`${kind} store: rollback restores the previous credential as a new version, verified first`, async (t) => {
    const { context, fake } = await setup(t, kind)
    fake.addClient('svc-client-id-2', NEW_SECRET)
    await rotateCredential(context, { integration: 'jira-main', config: OAUTH, credential: { client_id: 'svc-client-id-2', client_secret: NEW_SECRET }, actor: 'alice', expiresAt: '2027-01-01' })
    const rolled = await rollbackCredential(context, { integration: 'jira-main', config: OAUTH, actor: 'bob' })
    t.match(rolled, { oldVersion: 2, newVersion: 3, restoredVersion: 1 })
    t.same((await context.store.get('jira-main'))?.data, { client_id: CLIENT_ID, client_secret: CLIENT_SECRET }, 'the credential of version 1 is current again')
    t.equal(fake.exchangesFor(CLIENT_ID), 1, 'verified before writing')
    t.match(await context.store.metadata('jira-main'), { rotated_by: 'bob' })

    const toTwo = await rollbackCredential(context, { integration: 'jira-main', config: OAUTH, actor: 'bob', toVersion: 2 })
    t.match(toTwo, { oldVersion: 3, newVersion: 4, restoredVersion: 2 })
    t.equal((await context.store.get('jira-main'))?.data.client_id, 'svc-client-id-2')

    await t.rejects(rollbackCredential(context, { integration: 'jira-main', config: OAUTH, actor: 'bob', toVersion: 4 }), { code: 'BROKER_ERR_STATE_CONFLICT', statusCode: 409 }, 'not older than the current version: a conflict with the store\'s state')
    await t.rejects(rollbackCredential(context, { integration: 'jira-main', config: OAUTH, actor: 'bob', toVersion: 0 }), { code: 'BROKER_ERR_SECRET_VERSION_NOT_FOUND' })
    await t.rejects(rollbackCredential(context, { integration: 'wiki-main', config: OAUTH, actor: 'bob' }), { code: 'BROKER_ERR_SECRET_VERSION_NOT_FOUND' })
    await t.rejects(rollbackCredential(context, { integration: 'jira-main', config: OAUTH, actor: 'bob', expectedVersion: 3 }), { code: 'BROKER_ERR_SECRET_VERSION_CONFLICT' })
  })

  t.test(`${kind} store: a rollback to a credential Atlassian no longer accepts is refused`, async (t) => {
    const { context, fake } = await setup(t, kind)
    fake.setClientSecret(CLIENT_ID, NEW_SECRET)
    await rotateCredential(context, { integration: 'jira-main', config: OAUTH, credential: { client_id: CLIENT_ID, client_secret: NEW_SECRET }, actor: 'alice' })
    await t.rejects(rollbackCredential(context, { integration: 'jira-main', config: OAUTH, actor: 'bob' }), { code: 'BROKER_ERR_CREDENTIAL_VERIFICATION_FAILED' })
    t.equal(await context.store.currentVersion('jira-main'), 2)
  })

  t.test(`${kind} store: API tokens are verified with one authenticated call (Jira myself, Confluence user/current)`, async (t) => {
    const { context, fake } = await setup(t, kind)
    fake.addApiToken('scoped-token-new', { email: 'bot@serviceaccount.atlassian.com' })
    const jira = await rotateCredential(context, { integration: 'jira-token', config: JIRA_TOKEN, credential: { token: 'scoped-token-new' }, actor: 'alice' })
    t.match(jira, { oldVersion: undefined, newVersion: 1 })
    await rotateCredential(context, { integration: 'wiki-token', config: WIKI_TOKEN, credential: { token: 'scoped-token-new', email: 'bot@serviceaccount.atlassian.com' }, actor: 'alice' })
    const probes = fake.requests.filter((r) => r.endpoint === 'gateway').map((r) => r.apiPath)
    t.same(probes, ['/rest/api/3/myself', '/wiki/rest/api/user/current'])
    await t.rejects(rotateCredential(context, { integration: 'jira-token', config: JIRA_TOKEN, credential: { token: 'scoped-token-wrong' }, actor: 'alice' }),
      { code: 'BROKER_ERR_CREDENTIAL_VERIFICATION_FAILED' })
    await t.rejects(rotateCredential(context, { integration: 'wiki-token', config: WIKI_TOKEN, credential: { token: 'scoped-token-new', email: 'someone-else@example.com' }, actor: 'alice' }),
      { code: 'BROKER_ERR_CREDENTIAL_VERIFICATION_FAILED' }, 'Basic with the wrong email is refused')
    t.equal(await context.store.currentVersion('jira-token'), 1)
  })
}

t.test('a rotation without a new expiry says the old expires_at still stands', async (t) => {
  const { context } = await setup(t, 'file')
  await context.store.updateMetadata('jira-main', { expires_at: '2027-01-01T00:00:00.000Z' })
  const result = await rotateCredential(context, { integration: 'jira-main', config: OAUTH, credential: { client_id: CLIENT_ID, client_secret: CLIENT_SECRET }, actor: 'a' })
  t.match(result.notes, [/expires_at still says 2027-01-01T00:00:00.000Z/])
  await t.rejects(rotateCredential(context, { integration: 'jira-main', config: OAUTH, credential: { client_id: CLIENT_ID, client_secret: CLIENT_SECRET }, actor: 'a', expiresAt: 'next tuesday' }),
    { code: 'BROKER_ERR_BAD_REQUEST' })
})

t.test('Atlassian unreachable during verification: a 5xx, and nothing is stored', async (t) => {
  const { context, fake } = await setup(t, 'file')
  fake.tokenEndpointMode = 'down'
  await t.rejects(rotateCredential(context, { integration: 'jira-main', config: OAUTH, credential: { client_id: CLIENT_ID, client_secret: CLIENT_SECRET }, actor: 'a' }),
    { code: 'BROKER_ERR_TOKEN_ENDPOINT_UNAVAILABLE' })
  t.equal(await context.store.currentVersion('jira-main'), 1)
})
