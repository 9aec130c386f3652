import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import type { VaultConfig } from '../../src/config/schema.js'
import { createVaultStore, type VaultSecretStore } from '../../src/secrets/vault/vault-store.js'
import { FakeVault, type FakeVaultOptions } from '../helpers/fake-vault.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { assertNoSecrets, captureLogger, errorText, renderBrokerPolicies, rootClient, runVaultStoreCases, type TapTest, type VaultStoreTarget } from './vault-store-cases.js'

async function startFake (
  t: TapTest,
  options: FakeVaultOptions = {}
): Promise<{ fake: FakeVault, clock: ManualClock }> {
  const clock = new ManualClock()
  const fake = await FakeVault.start({ clock, ...options })
  t.teardown(() => fake.close())
  return { fake, clock }
}

function fakeTarget (fake: FakeVault, clock: ManualClock): VaultStoreTarget {
  return {
    name: 'fake',
    address: fake.address,
    rootToken: fake.rootToken,
    mount: 'secret',
    clock,
    async setupAppRole ({ prefix, tokenTtlSeconds, tokenMaxTtlSeconds }) {
      const policies = renderBrokerPolicies({ mount: 'secret', prefix })
      fake.addPolicyHcl(`broker-${prefix}`, policies.broker)
      fake.addPolicyHcl(`rotator-${prefix}`, policies.rotator)
      return fake.addAppRole({ name: prefix, policies: [`broker-${prefix}`, `rotator-${prefix}`], tokenTtl: tokenTtlSeconds ?? 1_200, tokenMaxTtl: tokenMaxTtlSeconds ?? 14_400 })
    }
  }
}

interface Opened {
  store: VaultSecretStore
  fake: FakeVault
  clock: ManualClock
  logs: () => string
  secretId: string
  config: VaultConfig
}

/** A store logged in by AppRole against a fresh fake; `policies: 'reader'` gives the broker policy only. */
async function openStore (t: TapTest, options: { fake?: FakeVaultOptions, policies?: 'reader' | 'rotator', config?: Partial<VaultConfig> } = {}): Promise<Opened> {
  const { fake, clock } = await startFake(t, options.fake)
  const rendered = renderBrokerPolicies({ mount: 'secret', prefix: 'atlassian-broker' })
  fake.addPolicyHcl('atlassian-broker', rendered.broker)
  fake.addPolicyHcl('atlassian-broker-rotator', rendered.rotator)
  const policies = options.policies === 'reader' ? ['atlassian-broker'] : ['atlassian-broker', 'atlassian-broker-rotator']
  const { roleId, secretId } = fake.addAppRole({ name: 'broker', policies, tokenTtl: 1_200, tokenMaxTtl: 14_400 })
  const { logger, text } = captureLogger()
  const config: VaultConfig = {
    address: fake.address,
    mount: 'secret',
    prefix: 'atlassian-broker',
    revalidateSeconds: 30,
    requestTimeoutMs: 1_000,
    auth: { method: 'approle', roleId, secretId, mountPath: 'approle' },
    ...options.config
  }
  const store = await createVaultStore({ config, logger, clock, random: () => 0 })
  t.teardown(() => store.close())
  return { store, fake, clock, logs: text, secretId, config }
}

t.test('shared Vault store cases against the fake', async (t) => {
  const { fake, clock } = await startFake(t)
  await runVaultStoreCases(t, fakeTarget(fake, clock))
})

t.test('the fake answers in Vault 1.17 mode too', async (t) => {
  const { fake, clock } = await startFake(t, { version: '1.17' })
  await runVaultStoreCases(t, fakeTarget(fake, clock))
})

t.test('X-Vault-Namespace goes on every request, login included', async (t) => {
  const { store, fake } = await openStore(t, { config: { namespace: 'team-a/' } })
  await store.put('jira-prod', { token: 'namespaced' }, { metadata: { owner: 'team-a' } })
  t.equal(fake.count('metadata:patch'), 1, 'the metadata PATCH too')
  t.same((await store.get('jira-prod'))?.data, { token: 'namespaced' })
  t.ok(fake.requests.length >= 3)
  t.ok(fake.requests.every((request) => request.namespace === 'team-a/'), 'every request names the namespace')
  t.equal(fake.count('login:approle'), 1)
})

t.test('Vault sealed: SecretStoreUnavailableError with Retry-After, and health says sealed', async (t) => {
  const { store, fake, logs, secretId } = await openStore(t)
  await store.put('jira-prod', { client_secret: 'sealed-away' })
  fake.sealed = true
  const error = await store.get('jira-prod').catch((caught: unknown) => caught)
  t.match(error, { code: 'BROKER_ERR_SECRET_STORE_UNAVAILABLE', statusCode: 503, retryAfterSeconds: 30 })
  await t.rejects(store.currentVersion('jira-prod'), { code: 'BROKER_ERR_SECRET_STORE_UNAVAILABLE' })
  t.same(await store.health(), { ok: false, detail: 'sealed' })
  t.equal(fake.count('login:approle'), 1, 'a sealed Vault is not mistaken for a dead token')
  t.equal(logs().match(/"level":40,[^\n]*Vault is unavailable: sealed/g)?.length, 1, 'the outage is warned about once, not per call')
  fake.sealed = false
  t.same((await store.get('jira-prod'))?.data, { client_secret: 'sealed-away' })
  t.match(logs(), /Vault answers again/)
  assertNoSecrets(t, [logs(), errorText(error)], [secretId, 'sealed-away'])
})

t.test('Vault down: SecretStoreUnavailableError at once, and back when it is up', async (t) => {
  const { store, fake, logs, secretId } = await openStore(t)
  await store.put('jira-prod', { client_secret: 'down-value' })
  await fake.down()
  const error = await store.get('jira-prod').catch((caught: unknown) => caught)
  t.match(error, { code: 'BROKER_ERR_SECRET_STORE_UNAVAILABLE', retryAfterSeconds: 5 })
  t.same(await store.health(), { ok: false, detail: 'unreachable' })
  await fake.up()
  t.same((await store.get('jira-prod'))?.data, { client_secret: 'down-value' })
  assertNoSecrets(t, [logs(), errorText(error)], [secretId, 'down-value'])
})

t.test('Vault slow: the request timeout trips and nothing secret rides on the error', async (t) => {
  const { store, fake, logs, secretId } = await openStore(t, { config: { requestTimeoutMs: 150 } })
  await store.put('jira-prod', { client_secret: 'slow-value' })
  fake.slowMs = 3_000
  const error = await store.put('jira-prod', { client_secret: 'never-written-value' }).catch((caught: unknown) => caught)
  t.match(error, { code: 'BROKER_ERR_SECRET_STORE_UNAVAILABLE', retryAfterSeconds: 5 })
  t.match(logs(), /no answer within 150 ms/)
  t.same(await store.health(), { ok: false, detail: 'timed out' })
  fake.slowMs = 0
  assertNoSecrets(t, [logs(), errorText(error)], [secretId, 'slow-value', 'never-written-value'])
})

t.test('a policy gap is SecretStoreDeniedError, logged with the path, and never loops on login', async (t) => {
  const { store, fake, logs } = await openStore(t, { policies: 'reader' })
  for (let attempt = 0; attempt < 3; attempt++) {
    await t.rejects(store.put('jira-prod', { token: 'x' }), { code: 'BROKER_ERR_SECRET_STORE_DENIED', statusCode: 503 })
  }
  t.equal(fake.count('login:approle'), 1, 'no re-login for a live token')
  t.equal(fake.count('token:lookup-self'), 3, 'one lookup-self per denial tells the cases apart')
  t.match(logs(), /"path":"secret\/data\/atlassian-broker\/jira-prod"/)
  t.match(logs(), /policy lacks this capability/)
})

t.test('a revoked token: one re-login and one retry, transparently', async (t) => {
  const { store, fake } = await openStore(t)
  await store.put('jira-prod', { token: 'before' })
  fake.revokeToken(fake.issuedTokens[0] ?? '')
  t.same((await store.get('jira-prod'))?.data, { token: 'before' })
  t.equal(fake.count('login:approle'), 2)
  t.equal(store.session.state().logins, 2)
  const retry = fake.requests.at(-1)
  t.match(retry, { route: 'kv:read', status: 200 })
  t.equal(retry?.token, fake.issuedTokens[1], 'the retry carries the new token (no stale X-Vault-Token from a shared headers object)')
})

t.test('Kubernetes login goes to auth/<mountPath>/login, not node-vault\'s auth//login', async (t) => {
  const { fake, clock } = await startFake(t)
  const rendered = renderBrokerPolicies({ mount: 'secret', prefix: 'atlassian-broker' })
  fake.addPolicyHcl('atlassian-broker', rendered.broker)
  fake.addKubernetesRole({ name: 'broker', boundServiceAccountNames: ['atlassian-broker'], boundServiceAccountNamespaces: ['platform'], audience: 'vault', policies: ['atlassian-broker'], tokenTtl: 600 })
  const dir = await mkdtemp(path.join(tmpdir(), 'vault-k8s-'))
  const jwtPath = path.join(dir, 'token')
  const jwt = fake.serviceAccountJwt({ namespace: 'platform', name: 'atlassian-broker', audience: 'vault' })
  await writeFile(jwtPath, `${jwt}\n`)
  const { logger, text } = captureLogger()
  const store = await createVaultStore({
    config: { address: fake.address, mount: 'secret', prefix: 'atlassian-broker', revalidateSeconds: 30, requestTimeoutMs: 1_000, auth: { method: 'kubernetes', role: 'broker', jwtPath, mountPath: 'kubernetes' } },
    logger,
    clock
  })
  t.teardown(() => store.close())
  t.equal(await store.get('missing'), undefined)
  t.equal(fake.count('login:kubernetes'), 1)
  t.equal(fake.count('login:unknown'), 0)
  t.same(fake.kubernetesJwtsSeen, [jwt], 'the JWT read from the file, trimmed')
  assertNoSecrets(t, [text()], [jwt])
})

t.test('a KV mount that is not there is reported as unavailable, naming vault.mount', async (t) => {
  // The root token passes every ACL, so the fake answers what Vault does for an unmounted path: 404 "no handler for
  // route".
  const { store, logs } = await openStore(t, { config: { mount: 'kv-missing', auth: { method: 'token', token: 'root' } } })
  await t.rejects(store.get('jira-prod'), { code: 'BROKER_ERR_SECRET_STORE_UNAVAILABLE' })
  t.match(logs(), /check vault\.mount \(\\"kv-missing\\"\)/)
  t.match(logs(), /kv-missing\/data\/atlassian-broker\/jira-prod/)
})

t.test('a key with cas_required refuses a write without cas: BadRequestError', async (t) => {
  const { store, fake, clock } = await openStore(t)
  await store.put('jira-prod', { token: 'v1' }, { cas: 0 })
  const root = rootClient(fakeTarget(fake, clock))
  await root.write('secret/metadata/atlassian-broker/jira-prod', { cas_required: true })
  await t.rejects(store.put('jira-prod', { token: 'v2' }), { code: 'BROKER_ERR_BAD_REQUEST', statusCode: 400 })
  t.same(await store.put('jira-prod', { token: 'v2' }, { cas: 1 }), { version: 2 })
})

t.test('writers of pruned versions leave custom_metadata (64-key limit)', async (t) => {
  const { store } = await openStore(t)
  for (let version = 0; version < 12; version++) await store.put('jira-prod', { token: `v${version + 1}` }, { cas: version, metadata: { rotated_by: `writer-${version + 1}` } })
  const history = await store.history('jira-prod')
  t.same(history.map((entry) => entry.version), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 'KV keeps max_versions (10)')
  t.equal(history[0]?.writtenBy, 'writer-3')
  t.same(await store.metadata('jira-prod'), { rotated_by: 'writer-12' })
})

t.test('a store with a writtenBy default records it when the put names no rotator', async (t) => {
  const { fake, clock } = await startFake(t)
  const target = fakeTarget(fake, clock)
  const { roleId, secretId } = await target.setupAppRole({ prefix: 'atlassian-broker' })
  const store = await createVaultStore({
    config: { address: fake.address, mount: 'secret', prefix: 'atlassian-broker', revalidateSeconds: 30, requestTimeoutMs: 1_000, auth: { method: 'approle', roleId, secretId, mountPath: 'approle' } },
    logger: captureLogger().logger,
    clock,
    writtenBy: 'admin-api'
  })
  t.teardown(() => store.close())
  await store.put('jira-prod', { token: 'v1' })
  t.same((await store.history('jira-prod')).map((entry) => entry.writtenBy), ['admin-api'])
  t.same(await store.metadata('jira-prod'), {}, 'the writer is per version, not a lifecycle field')
})

t.test('the wire: GET ?list=1 instead of LIST, PATCH as merge-patch, no 201', async (t) => {
  const { store, fake } = await openStore(t)
  await store.put('jira-prod', { token: 'v1' }, { metadata: { owner: 'team-a' } })
  await store.list()
  const listing = fake.requests.find((request) => request.route === 'metadata:list')
  t.match(listing, { method: 'GET', path: '/v1/secret/metadata/atlassian-broker/', query: '?list=1', status: 200 })
  t.match(fake.requests.find((request) => request.route === 'metadata:patch'), { method: 'PATCH', status: 204 })
  t.ok(fake.requests.every((request) => request.status !== 201), 'node-vault treats 201 as an error; Vault never sends it')
})

t.test('fake fidelity: shapes a client can rely on', async (t) => {
  const { fake } = await startFake(t)
  const headers = { 'x-vault-token': fake.rootToken, 'content-type': 'application/json' }
  fake.handle('POST', '/v1/secret/data/app/one', headers, JSON.stringify({ data: { a: '1' } }))
  t.same(JSON.parse(fake.handle('LIST', '/v1/secret/metadata/app', headers, '').body).data, { keys: ['one'] }, 'LIST maps to a list, as GET ?list=true does')
  t.match(fake.handle('GET', '/v1/secret/metadata/app?list=maybe', headers, ''), { status: 400 }, 'list is parsed with ParseBool')
  t.same(JSON.parse(fake.handle('GET', '/v1/secret/data/nothing', headers, '').body), { errors: [] }, 'a missing key is 404 {"errors":[]}')
  t.match(fake.handle('PATCH', '/v1/secret/metadata/nothing', { ...headers, 'content-type': 'application/merge-patch+json' }, '{}'), { status: 404, body: '' }, 'PATCH of a missing key: 404, empty body')
  t.match(fake.handle('PATCH', '/v1/secret/metadata/app/one', headers, '{}'), { status: 415 }, 'PATCH needs application/merge-patch+json')
  const empty = fake.handle('PATCH', '/v1/secret/metadata/app/one', { ...headers, 'content-type': 'application/merge-patch+json' }, JSON.stringify({ custom_metadata: { owner: '' } }))
  t.equal(empty.status, 400)
  t.match(JSON.parse(empty.body).errors[0], /^1 error occurred:\n\t\* custom_metadata validation failed: length of value for key "owner" is 0/)
  const read = JSON.parse(fake.handle('GET', '/v1/secret/data/app/one', headers, '').body)
  t.same(Object.keys(read).sort(), ['auth', 'data', 'lease_duration', 'lease_id', 'mount_type', 'renewable', 'request_id', 'warnings', 'wrap_info'])
  t.same(Object.keys(read.data.metadata).sort(), ['created_time', 'custom_metadata', 'deletion_time', 'destroyed', 'version'])
  t.match(read.data.metadata.created_time, /^2026-11-23T12:00:00Z$/, 'RFC 3339, trailing zeros trimmed')
  t.match(fake.handle('GET', '/v1/secret/data/app/one', { 'x-vault-token': 'hvs.bogus' }, ''), { status: 403, body: '{"errors":["permission denied"]}' }, '1.15: a dead token gets "permission denied" only')
  fake.sealed = true
  t.match(fake.handle('GET', '/v1/secret/data/app/one', headers, ''), { status: 503, body: '{"errors":["Vault is sealed"]}' })
  t.match(JSON.parse(fake.handle('GET', '/v1/sys/health', {}, '').body), { sealed: true, initialized: true })
})

const hasOpenssl = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0

t.test('TLS: vault.tls.caFile and serverName reach the socket', { skip: hasOpenssl ? false : 'openssl is needed to make a test certificate' }, async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'vault-tls-'))
  const keyFile = path.join(dir, 'key.pem')
  const caFile = path.join(dir, 'cert.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=vault.internal',
    '-addext', 'subjectAltName=DNS:vault.internal', '-keyout', keyFile, '-out', caFile], { stdio: 'ignore' })
  const clock = new ManualClock()
  const fake = await FakeVault.start({ clock, tls: { key: await readFile(keyFile), cert: await readFile(caFile) } })
  t.teardown(() => fake.close())
  const config = (tls: VaultConfig['tls']): VaultConfig => ({
    address: fake.address, mount: 'secret', prefix: 'atlassian-broker', revalidateSeconds: 30, requestTimeoutMs: 1_000, tls, auth: { method: 'token', token: fake.rootToken }
  })
  const store = await createVaultStore({ config: config({ caFile, serverName: 'vault.internal' }), logger: captureLogger().logger, clock })
  t.teardown(() => store.close())
  t.same(await store.health(), { ok: true, detail: 'ok' }, 'the CA and the server name verify the certificate')
  await t.rejects(createVaultStore({ config: config({ caFile }), logger: captureLogger().logger, clock }), { code: 'BROKER_ERR_SECRET_STORE_UNAVAILABLE' }, 'without serverName the name 127.0.0.1 does not match')
  await t.rejects(createVaultStore({ config: config(undefined), logger: captureLogger().logger, clock }), { code: 'BROKER_ERR_SECRET_STORE_UNAVAILABLE' }, 'without the CA the certificate is not trusted')
})
