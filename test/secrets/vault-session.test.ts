import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import type { VaultConfig } from '../../src/config/schema.js'
import { createVaultSession, describeVaultFailure, VaultCallError, type VaultSession } from '../../src/secrets/vault/vault-session.js'
import { FakeVault, type FakeVaultVersion } from '../helpers/fake-vault.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { assertNoSecrets, captureLogger, errorText, renderBrokerPolicies, rootClient, type TapTest } from './vault-store-cases.js'

const SECRET_PATH = 'secret/data/atlassian-broker/jira-prod'
const read = async (session: VaultSession): Promise<unknown> => await session.call('read', SECRET_PATH, async (client) => await client.read(SECRET_PATH) as unknown)

interface Setup {
  fake: FakeVault
  clock: ManualClock
  session: VaultSession
  logs: () => string
  roleId: string
  secretId: string
  config: VaultConfig
}

interface SetupOptions {
  version?: FakeVaultVersion
  tokenTtl?: number
  tokenMaxTtl?: number
  /** 'reader': the broker policy; 'none': only Vault's default policy (lookup-self, renew-self). */
  policies?: 'reader' | 'none'
  random?: () => number
  auth?: (fake: FakeVault, role: { roleId: string, secretId: string }) => Promise<VaultConfig['auth']>
}

async function setup (t: TapTest, options: SetupOptions = {}): Promise<Setup> {
  const clock = new ManualClock()
  const fake = await FakeVault.start({ clock, version: options.version ?? '1.15' })
  t.teardown(() => fake.close())
  fake.addPolicyHcl('atlassian-broker', renderBrokerPolicies({ mount: 'secret', prefix: 'atlassian-broker' }).broker)
  const role = fake.addAppRole({ name: 'broker', policies: options.policies === 'none' ? [] : ['atlassian-broker'], tokenTtl: options.tokenTtl ?? 60, tokenMaxTtl: options.tokenMaxTtl ?? 3_600 })
  await rootClient({ name: 'fake', address: fake.address, rootToken: fake.rootToken, mount: 'secret', setupAppRole: async () => role })
    .write(SECRET_PATH, { data: { client_secret: 'the-credential-value' } })
  const { logger, text } = captureLogger()
  const auth = options.auth === undefined ? { method: 'approle' as const, roleId: role.roleId, secretId: role.secretId, mountPath: 'approle' } : await options.auth(fake, role)
  const config: VaultConfig = { address: fake.address, mount: 'secret', prefix: 'atlassian-broker', revalidateSeconds: 30, requestTimeoutMs: 1_000, auth }
  const session = await createVaultSession({ config, logger, clock, random: options.random ?? (() => 0) })
  t.teardown(() => session.close())
  fake.resetRequests()
  return { fake, clock, session, logs: text, ...role, config }
}

/** Moves the clock and waits for whatever the timers started (renewals and logins go over real sockets). */
async function advance (setup: Setup, ms: number): Promise<void> {
  await setup.clock.advance(ms)
  await setup.session.settled()
}

t.test('renews at 2/3 of the TTL and keeps extending it', async (t) => {
  const s = await setup(t, { tokenTtl: 60 })
  await advance(s, 39_900)
  t.equal(s.fake.count('token:renew-self'), 0, 'not before 2/3 of the TTL')
  await advance(s, 100)
  t.equal(s.fake.count('token:renew-self'), 1, 'at 40 s of 60')
  t.equal(s.fake.tokenTtlSeconds(s.fake.issuedTokens[0] ?? ''), 60, 'the TTL was extended to the full increment')
  t.match(s.session.state(), {
    authenticated: true,
    extending: true,
    renewals: 1,
    logins: 1,
    expiresAt: s.clock.now() + 60_000
  })
  await advance(s, 40_000)
  await advance(s, 40_000)
  t.equal(s.fake.count('token:renew-self'), 3)
  t.equal(s.fake.count('login:approle'), 0, 'no new login while renewals extend the token')
  assertNoSecrets(t, [s.logs()], [s.secretId, 'the-credential-value'])
})

t.test('jitter moves the renewal earlier, by up to 10 % of the TTL', async (t) => {
  const s = await setup(t, { tokenTtl: 60, random: () => 0.999 })
  await advance(s, 33_900)
  t.equal(s.fake.count('token:renew-self'), 0)
  await advance(s, 200)
  t.equal(s.fake.count('token:renew-self'), 1, 'at about 34 s (40 s - 6 s)')
})

t.test('when renewal stops extending (max TTL), it logs in again before the token expires', async (t) => {
  const s = await setup(t, { tokenTtl: 60, tokenMaxTtl: 100 })
  await advance(s, 40_000)
  t.match(s.session.state(), { extending: true, renewals: 1 }, 'at 40 s the full 60 s still fit under the 100 s max')
  await advance(s, 40_000)
  t.match(s.session.state(), { extending: false, renewals: 2 }, 'at 80 s Vault capped the lease to 20 s')
  t.match(s.logs(), /reached its max TTL/)
  t.match(s.logs(), /TTL of \\"1m0s\\" exceeded the effective max_ttl of \\"20s\\"; TTL value is capped accordingly/, 'Vault\'s warning is logged')
  await advance(s, 13_000)
  t.equal(s.fake.count('login:approle'), 0, 'not yet at 93 s')
  await advance(s, 1_000)
  t.equal(s.fake.count('login:approle'), 1, 'logged in again at about 93.3 s, before the 100 s max')
  t.equal(s.session.state().logins, 2)
  await advance(s, 6_000)
  t.match(await read(s.session), { data: { data: { client_secret: 'the-credential-value' } } }, 'reads work after the first token expired')
  t.equal(s.fake.requests.filter((request) => request.status === 403).length, 0, 'the expired token was never used')
})

for (const version of ['1.15', '1.17'] as const) {
  t.test(`a revoked token (Vault ${version}): one re-login and one retry`, async (t) => {
    const s = await setup(t, { version })
    s.fake.revokeToken(s.fake.issuedTokens[0] ?? '')
    t.match(await read(s.session), { data: { data: { client_secret: 'the-credential-value' } } })
    t.equal(s.fake.count('login:approle'), 1)
    t.equal(s.fake.count('kv:read'), 2, 'the call, then one retry')
    t.equal(s.fake.count('token:lookup-self'), version === '1.15' ? 1 : 0, '1.15 needs lookup-self to tell a dead token; 1.17 says "invalid token"')
    assertNoSecrets(t, [s.logs()], [s.secretId, 'the-credential-value'])
  })
}

t.test('concurrent calls that find the token dead share one login', async (t) => {
  const s = await setup(t)
  s.fake.revokeToken(s.fake.issuedTokens[0] ?? '')
  const results = await Promise.all(Array.from({ length: 5 }, async () => await read(s.session)))
  t.equal(results.length, 5)
  t.equal(s.fake.count('login:approle'), 1)
})

t.test('denied again after a fresh login: SecretStoreDeniedError, exactly one extra login', async (t) => {
  const s = await setup(t, { policies: 'none' })
  s.fake.revokeToken(s.fake.issuedTokens[0] ?? '')
  const error = await read(s.session).catch((caught: unknown) => caught)
  t.match(error, { code: 'BROKER_ERR_SECRET_STORE_DENIED' })
  t.equal(s.fake.count('login:approle'), 1)
  t.match(s.logs(), /still denies this path after a fresh login/)
  await t.rejects(read(s.session), { code: 'BROKER_ERR_SECRET_STORE_DENIED' }, 'the new token is live: a policy gap')
  await t.rejects(read(s.session), { code: 'BROKER_ERR_SECRET_STORE_DENIED' })
  t.equal(s.fake.count('login:approle'), 1, 'never a login loop')
  assertNoSecrets(t, [s.logs(), errorText(error)], [s.secretId])
})

t.test('a refused renewal (revoked token) leads to a fresh login', async (t) => {
  const s = await setup(t)
  s.fake.revokeToken(s.fake.issuedTokens[0] ?? '')
  await advance(s, 40_000)
  t.equal(s.fake.count('token:renew-self'), 1)
  t.equal(s.fake.count('login:approle'), 1)
  t.match(s.logs(), /Vault refused to renew/)
  await read(s.session)
  t.equal(s.fake.count('kv:read'), 1, 'the new token works at once')
})

t.test('a renewal that cannot reach Vault is retried while the token lasts', async (t) => {
  const s = await setup(t)
  await s.fake.down()
  await advance(s, 40_000)
  t.match(s.logs(), /could not renew the Vault token; will retry/)
  await s.fake.up()
  await advance(s, 6_700)
  t.match(s.session.state(), { renewals: 1, logins: 1, extending: true }, 'renewed at 40 s + 20 s / 3')
})

t.test('a token that ran out while Vault was away is replaced before the next call', async (t) => {
  const s = await setup(t)
  await s.fake.down()
  await advance(s, 40_000)
  await advance(s, 6_667)
  await advance(s, 4_445)
  await advance(s, 10_000)
  await s.fake.up()
  t.match(await read(s.session), { data: { data: { client_secret: 'the-credential-value' } } })
  t.ok(s.fake.count('login:approle') >= 1, 'logged in again')
  t.equal(s.fake.requests.filter((request) => request.status === 403).length, 0, 'the expired token was not tried')
})

t.test('the secret id file is read again at each login', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'vault-approle-'))
  const secretIdFile = path.join(dir, 'secret-id')
  const s = await setup(t, {
    auth: async (_fake, role) => {
      await writeFile(secretIdFile, `${role.secretId}\n`)
      return { method: 'approle', roleId: role.roleId, secretIdFile, mountPath: 'approle' }
    }
  })
  const rotated = s.fake.newSecretId(s.roleId)
  s.fake.destroySecretId(s.roleId, s.secretId)
  await writeFile(secretIdFile, rotated)
  s.fake.revokeToken(s.fake.issuedTokens[0] ?? '')
  await read(s.session)
  t.equal(s.fake.count('login:approle'), 1, 'the rotated secret id logged in')
  assertNoSecrets(t, [s.logs()], [s.secretId, rotated])
})

t.test('a failing background login is retried with backoff until it works', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'vault-approle-'))
  const secretIdFile = path.join(dir, 'secret-id')
  const s = await setup(t, {
    tokenTtl: 60,
    tokenMaxTtl: 60,
    auth: async (_fake, role) => {
      await writeFile(secretIdFile, role.secretId)
      return { method: 'approle', roleId: role.roleId, secretIdFile, mountPath: 'approle' }
    }
  })
  s.fake.destroySecretId(s.roleId, s.secretId)
  await advance(s, 40_000)
  t.match(s.session.state(), { extending: false }, 'the first renewal is already capped at the 60 s max')
  await advance(s, 13_334)
  t.equal(s.fake.count('login:approle'), 1, 'the re-login was tried and refused')
  t.match(s.logs(), /Vault refused the broker's login: check vault.auth.roleId/)
  t.match(s.logs(), /invalid secret id/)
  await advance(s, 1_000)
  t.equal(s.fake.count('login:approle'), 2, 'retried after 1 s')
  await writeFile(secretIdFile, s.fake.newSecretId(s.roleId))
  await advance(s, 2_000)
  t.equal(s.fake.count('login:approle'), 3, 'retried after 2 s more, and it worked')
  t.equal(s.session.state().logins, 2)
})

t.test('Kubernetes: the service-account token is read again at each login, on auth/<mountPath>/login', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'vault-k8s-'))
  const jwtPath = path.join(dir, 'token')
  let first = ''
  const s = await setup(t, {
    auth: async (fake) => {
      fake.addPolicyHcl('atlassian-broker', renderBrokerPolicies({ mount: 'secret', prefix: 'atlassian-broker' }).broker)
      fake.addKubernetesRole({ name: 'broker', mount: 'k8s-prod', boundServiceAccountNames: ['atlassian-broker'], boundServiceAccountNamespaces: ['platform'], audience: 'vault', policies: ['atlassian-broker'], tokenTtl: 600 })
      first = fake.serviceAccountJwt({ namespace: 'platform', name: 'atlassian-broker', audience: 'vault', ttlSeconds: 3_600 })
      await writeFile(jwtPath, first)
      return { method: 'kubernetes', role: 'broker', jwtPath, mountPath: 'k8s-prod' }
    }
  })
  const second = s.fake.serviceAccountJwt({ namespace: 'platform', name: 'atlassian-broker', audience: 'vault', ttlSeconds: 3_600 })
  await writeFile(jwtPath, second)
  s.fake.revokeToken(s.fake.issuedTokens[0] ?? '')
  await read(s.session)
  t.same(s.fake.kubernetesJwtsSeen, [first, second])
  t.equal(s.fake.count('login:kubernetes'), 1)
  assertNoSecrets(t, [s.logs()], [first, second])
})

t.test('Kubernetes: a service account the role does not bind is refused clearly', async (t) => {
  const clock = new ManualClock()
  const fake = await FakeVault.start({ clock })
  t.teardown(() => fake.close())
  fake.addKubernetesRole({ name: 'broker', boundServiceAccountNames: ['atlassian-broker'], boundServiceAccountNamespaces: ['platform'], policies: [] })
  const dir = await mkdtemp(path.join(tmpdir(), 'vault-k8s-'))
  const jwtPath = path.join(dir, 'token')
  const jwt = fake.serviceAccountJwt({ namespace: 'platform', name: 'someone-else' })
  await writeFile(jwtPath, jwt)
  const { logger, text } = captureLogger()
  const config: VaultConfig = { address: fake.address, mount: 'secret', prefix: 'p', revalidateSeconds: 30, requestTimeoutMs: 1_000, auth: { method: 'kubernetes', role: 'broker', jwtPath, mountPath: 'kubernetes' } }
  const error = await createVaultSession({ config, logger, clock }).catch((caught: unknown) => caught)
  t.match(error, { code: 'BROKER_ERR_SECRET_STORE_DENIED' })
  t.match(text(), /service account name not authorized/)
  assertNoSecrets(t, [text(), errorText(error)], [jwt])
})

for (const [version, text] of [['1.15', 'invalid secret id'], ['1.17', 'invalid role or secret ID']] as const) {
  t.test(`a wrong secret id (Vault ${version}) fails the first login with SecretStoreDeniedError`, async (t) => {
    const clock = new ManualClock()
    const fake = await FakeVault.start({ clock, version })
    t.teardown(() => fake.close())
    const { roleId } = fake.addAppRole({ name: 'broker', policies: [] })
    const { logger, text: logs } = captureLogger()
    const wrong = 'd0e1f2a3-0000-4000-8000-wrongsecret0'
    const config: VaultConfig = { address: fake.address, mount: 'secret', prefix: 'p', revalidateSeconds: 30, requestTimeoutMs: 1_000, auth: { method: 'approle', roleId, secretId: wrong, mountPath: 'approle' } }
    const error = await createVaultSession({ config, logger, clock }).catch((caught: unknown) => caught)
    t.match(error, { code: 'BROKER_ERR_SECRET_STORE_DENIED', statusCode: 503 })
    t.match(logs(), text)
    t.equal(clock.pendingTimers, 0, 'a failed start leaves no timer behind')
    assertNoSecrets(t, [logs(), errorText(error)], [wrong])
  })
}

t.test('a secret id file that cannot be read: SecretStoreUnavailableError naming the setting', async (t) => {
  const clock = new ManualClock()
  const fake = await FakeVault.start({ clock })
  t.teardown(() => fake.close())
  const { roleId } = fake.addAppRole({ name: 'broker', policies: [] })
  const { logger, text } = captureLogger()
  const config: VaultConfig = { address: fake.address, mount: 'secret', prefix: 'p', revalidateSeconds: 30, requestTimeoutMs: 1_000, auth: { method: 'approle', roleId, secretIdFile: '/nonexistent/secret-id', mountPath: 'approle' } }
  await t.rejects(createVaultSession({ config, logger, clock }), { code: 'BROKER_ERR_SECRET_STORE_UNAVAILABLE' })
  t.match(text(), /vault\.auth\.secretIdFile/)
  t.match(text(), /ENOENT/)
})

t.test('a given token is looked up and renewed, never "logged in" again', async (t) => {
  let token = ''
  const s = await setup(t, {
    auth: async (fake) => {
      token = fake.createToken({ policies: ['atlassian-broker'], ttl: 60, maxTtl: 3_600 })
      return { method: 'token', token }
    }
  })
  t.match(s.session.state(), { method: 'token', authenticated: true, renewable: true, logins: 0 })
  await advance(s, 40_000)
  t.equal(s.fake.count('token:renew-self'), 1)
  s.fake.revokeToken(token)
  await t.rejects(read(s.session), { code: 'BROKER_ERR_SECRET_STORE_DENIED' })
  t.match(s.logs(), /the configured Vault token is revoked or expired/)
  t.equal(s.fake.count('login:approle') + s.fake.count('login:unknown'), 0)
  assertNoSecrets(t, [s.logs()], [token])
})

t.test('a given token without TTL (root) schedules nothing', async (t) => {
  const s = await setup(t, { auth: async (fake) => ({ method: 'token', token: fake.rootToken }) })
  t.match(s.session.state(), { authenticated: true, expiresAt: undefined })
  t.equal(s.clock.pendingTimers, 0)
})

t.test('close() clears the renewal timer', async (t) => {
  const s = await setup(t)
  t.equal(s.clock.pendingTimers, 1)
  await s.session.close()
  t.equal(s.clock.pendingTimers, 0)
  await t.rejects(read(s.session), { code: 'BROKER_ERR_SECRET_STORE_UNAVAILABLE' })
})

t.test('describeVaultFailure keeps status and Vault\'s texts, never the request', async (t) => {
  const raw = Object.assign(new Error('2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n'), {
    response: { statusCode: 403, body: { errors: ['2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n'] } },
    config: { headers: { 'X-Vault-Token': 'hvs.SHOULDNOTLEAK000' } }
  })
  const failure = describeVaultFailure(raw)
  t.ok(failure instanceof VaultCallError)
  t.same(failure.vaultErrors, ['permission denied', 'invalid token'])
  t.equal(failure.status, 403)
  t.notMatch(errorText(failure), /SHOULDNOTLEAK/)
  const transport = describeVaultFailure(Object.assign(new Error('timeout of 150ms exceeded'), { code: 'ECONNABORTED', config: { data: '{"secret_id":"x"}' } }))
  t.match(transport, { transportCode: 'ECONNABORTED', timedOut: true, status: undefined })
})
