/**
 * Vault faults seen from a caller (docs/security.md, "Fault tolerance"): Vault down, sealed, slow, and Vault revoking
 * the broker's own token. A credential already read keeps serving; one never read answers 503 with Retry-After; /readyz
 * flips only after repeated failures; everything comes back by itself.
 */
import t from 'tap'
import { request } from 'undici'
import type { Harness } from '../helpers/broker-harness.js'
import { call } from '../helpers/calls.js'
import { vaultHarness, type VaultHarness } from '../helpers/vault-harness.js'

const WIKI = { integration: 'wiki-main' } as const
const WIKI_PATH = '/wiki/rest/api/user/current'

async function readyz (h: Harness): Promise<number> {
  const response = await request(`${h.url}/readyz`)
  await response.body.dump()
  return response.statusCode
}

/** Samples /readyz three times, 2 s of broker time apart (Readiness flips after three bad samples in a row). */
async function readinessAfterSamples (v: VaultHarness): Promise<number> {
  let status = 0
  for (let sample = 0; sample < 3; sample++) {
    await v.clock.advance(2_001)
    status = await readyz(v.h)
  }
  return status
}

for (const fault of [
  { name: 'down', apply: async (v: VaultHarness) => { await v.vault.down() }, heal: async (v: VaultHarness) => { await v.vault.up() }, retryAfter: '5' },
  { name: 'sealed', apply: async (v: VaultHarness) => { v.vault.sealed = true }, heal: async (v: VaultHarness) => { v.vault.sealed = false }, retryAfter: '30' }
]) {
  t.test(`Vault ${fault.name}: cached credentials keep serving, an unread one answers 503 with Retry-After ${fault.retryAfter}, then recovery`, async (t) => {
    const v = await vaultHarness(t)
    const { h } = v
    t.equal((await call(h)).status, 200, 'jira-main warm: credential and token cached')
    t.equal(await readyz(h), 200)
    await fault.apply(v)

    const cold = await call(h, WIKI_PATH, WIKI)
    t.equal(cold.status, 503, 'an integration never read cannot be served')
    t.equal(cold.code, 'BROKER_ERR_SECRET_STORE_UNAVAILABLE')
    t.equal(cold.retryAfter, fault.retryAfter)
    t.notMatch(cold.body, /vault|127\.0\.0\.1|sealed|ECONN/i, 'no backend detail for the caller')

    t.equal((await call(h)).status, 200, 'the cached access token needs no Vault')
    h.broker.tokens.drop('jira-main')
    await v.clock.advance(31_000)
    t.equal((await call(h)).status, 200, 'a new exchange uses the cached credential while Vault is away')
    t.match(h.logs.join('\n'), /secret store unreachable; serving the cached credential/)
    t.equal(await readinessAfterSamples(v), 503, '/readyz says not ready after three failed samples')

    await fault.heal(v)
    t.equal(await readinessAfterSamples(v), 200, '/readyz recovers')
    t.equal((await call(h, WIKI_PATH, WIKI)).status, 200, 'the unread integration works once Vault is back')
  })
}

t.test('Vault slow: an unread credential fails within vault.requestTimeoutMs, cached ones keep serving, then recovery', async (t) => {
  const v = await vaultHarness(t, 200)
  const { h } = v
  t.equal((await call(h)).status, 200, 'warm')
  v.vault.slowMs = 3_000
  const cold = await call(h, WIKI_PATH, WIKI)
  t.equal(cold.status, 503)
  t.equal(cold.code, 'BROKER_ERR_SECRET_STORE_UNAVAILABLE')
  t.ok(Number(cold.retryAfter) >= 1)
  t.equal((await call(h)).status, 200, 'cached credential and token keep serving')
  v.vault.slowMs = 0
  t.equal((await call(h, WIKI_PATH, WIKI)).status, 200, 'recovers by itself')
})

t.test('Vault revokes the broker\'s token: one re-login, invisible to callers', async (t) => {
  const v = await vaultHarness(t)
  const { h, vault } = v
  t.equal((await call(h)).status, 200, 'warm')
  t.equal(vault.count('login:approle'), 1)
  vault.revokeToken(vault.issuedTokens.at(-1) ?? '')
  t.equal((await call(h, WIKI_PATH, WIKI)).status, 200, 'the read after the revocation succeeds')
  t.equal(vault.count('login:approle'), 2, 'after exactly one new login')
  h.broker.tokens.drop('jira-main')
  await v.clock.advance(31_000)
  t.equal((await call(h)).status, 200, 'revalidation works on the new token')
  t.equal(vault.count('login:approle'), 2)
})
