/**
 * The Vault store's shared cases and an end-to-end broker run against a real Vault server (1.15.0, built from the
 * Go module proxy by build-vault.sh), started in dev mode on 127.0.0.1. Skipped, with the reason, when no binary
 * exists.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { homedir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { createVaultStore } from '../../src/secrets/vault/vault-store.js'
import { CLIENT_ID, CLIENT_SECRET, startHarness } from '../helpers/broker-harness.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { captureLogger, renderBrokerPolicies, runVaultStoreCases, type VaultStoreTarget } from '../secrets/vault-store-cases.js'
import { runSiteCacheCases } from '../atlassian/site-cache-cases.js'

const BIN = process.env.ATLASSIAN_BROKER_VAULT_BIN ?? path.join(process.env.ATLASSIAN_BROKER_CACHE ?? path.join(homedir(), '.cache', 'atlassian-broker'), 'vault-1.15.0', 'vault')
const ROOT = 'root-token-for-tests'

async function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    }).on('error', reject)
  })
}

async function vaultApi (
  address: string,
  method: string,
  apiPath: string,
  body?: unknown
): Promise<Record<string, unknown>> {
  const response = await request(`${address}/v1/${apiPath}`, {
    method: method as 'GET',
    headers: { 'x-vault-token': ROOT, 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {})
  })
  const text = await response.body.text()
  if (response.statusCode >= 400) throw new Error(`${method} ${apiPath}: ${response.statusCode} ${text}`)
  return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>)
}

// Without the binary the test is skipped (counted as such), never passed.
const noVault = existsSync(BIN)
  ? false
  : `no real Vault binary at ${BIN}; run \`bash test/vault-real/build-vault.sh\` (needs Go and the module proxy), as CI does`

t.test('real Vault 1.15.0 dev server', { skip: noVault }, async (t) => {
  const port = await freePort()
  const address = `http://127.0.0.1:${port}`
  const server = spawn(BIN, ['server', '-dev', `-dev-root-token-id=${ROOT}`, `-dev-listen-address=127.0.0.1:${port}`], { stdio: 'ignore', env: { PATH: process.env.PATH, HOME: process.env.HOME } })
  t.teardown(() => { server.kill('SIGKILL') })
  for (let attempt = 0; ; attempt++) {
    const health = await request(`${address}/v1/sys/health`).then(async (response) => { await response.body.dump(); return response.statusCode }, () => 0)
    if (health === 200) break
    if (attempt > 300) throw new Error('real Vault did not start within 30 s')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  await vaultApi(address, 'POST', 'sys/auth/approle', { type: 'approle' })

  const target: VaultStoreTarget = {
    name: 'vault 1.15.0',
    address,
    rootToken: ROOT,
    mount: 'secret',
    async setupAppRole ({ prefix, tokenTtlSeconds, tokenMaxTtlSeconds }) {
      const policies = renderBrokerPolicies({ mount: 'secret', prefix })
      await vaultApi(address, 'PUT', `sys/policies/acl/broker-${prefix}`, { policy: policies.broker })
      await vaultApi(address, 'PUT', `sys/policies/acl/rotator-${prefix}`, { policy: policies.rotator })
      await vaultApi(address, 'POST', `auth/approle/role/${prefix}`, {
        token_policies: [`broker-${prefix}`, `rotator-${prefix}`], token_ttl: tokenTtlSeconds ?? 1_200, token_max_ttl: tokenMaxTtlSeconds ?? 14_400
      })
      const role = await vaultApi(address, 'GET', `auth/approle/role/${prefix}/role-id`) as { data: { role_id: string } }
      const secret = await vaultApi(address, 'POST', `auth/approle/role/${prefix}/secret-id`) as { data: { secret_id: string } }
      return { roleId: role.data.role_id, secretId: secret.data.secret_id }
    }
  }

  await runVaultStoreCases(t, target)
  await runSiteCacheCases(t, target)

  await t.test('end to end: the broker serves from a real Vault and picks up a version written there', async (t) => {
    const prefix = 'e2e'
    const { roleId, secretId } = await target.setupAppRole({ prefix })
    const { logger } = captureLogger()
    const store = await createVaultStore({ config: { address, mount: 'secret', prefix, revalidateSeconds: 30, requestTimeoutMs: 5_000, auth: { method: 'approle', roleId, secretId, mountPath: 'approle' } }, logger })
    t.teardown(() => store.close())
    // A platform team writes the credential with the Vault API (what `vault kv put` does).
    await vaultApi(address, 'POST', `secret/data/${prefix}/jira-main`, { data: { client_id: CLIENT_ID, client_secret: CLIENT_SECRET } })
    const clock = new ManualClock(Date.now())
    const h = await startHarness(t, { store, empty: true, clock })
    const call = async (): Promise<number> => {
      const response = await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: { authorization: `Bearer ${h.callerToken('report-job', {}, 86_400)}` } })
      await response.body.dump()
      return response.statusCode
    }
    t.equal(await call(), 200)
    // Rotation in Vault: Atlassian now only accepts the new secret and has revoked the old tokens.
    await vaultApi(address, 'POST', `secret/data/${prefix}/jira-main`, { data: { client_id: CLIENT_ID, client_secret: 'rotated-in-vault-secret' } })
    h.fake.setClientSecret(CLIENT_ID, 'rotated-in-vault-secret')
    h.fake.revokeTokensOf(CLIENT_ID)
    await clock.advance(10_000)
    t.equal(await call(), 200, 'the new version was picked up without a restart')
    t.equal(h.broker.credentials.cachedVersion('jira-main'), 2)
  })
})
