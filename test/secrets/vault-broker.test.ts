/**
 * The broker end to end on the Vault store (fake Vault + fake Atlassian): a version written in Vault is picked up,
 * an outage is survived while tokens are cached, calls that need Vault fail fast with 503 + Retry-After, and the
 * broker recovers by itself. Clocks are injected; nothing waits on real time for a TTL.
 */
import t from 'tap'
import { request } from 'undici'
import { CLIENT_ID, type Harness } from '../helpers/broker-harness.js'
import { vaultHarness } from '../helpers/vault-harness.js'

async function call (h: Harness, path = '/proxy/jira-main/rest/api/3/myself'): Promise<{ status: number, body: Record<string, unknown>, retryAfter: unknown }> {
  const response = await request(`${h.url}${path}`, { headers: { authorization: `Bearer ${h.callerToken('report-job', {}, 86_400)}` } })
  return { status: response.statusCode, body: await response.body.json() as Record<string, unknown>, retryAfter: response.headers['retry-after'] }
}

t.test('a new version written in Vault is picked up within revalidateSeconds, without a restart', async (t) => {
  const { h, clock, writeInVault } = await vaultHarness(t)
  t.equal((await call(h)).status, 200)
  await writeInVault('jira-main', { client_id: CLIENT_ID, client_secret: 'rotated-by-platform-team' })
  h.fake.setClientSecret(CLIENT_ID, 'rotated-by-platform-team')
  h.fake.revokeTokensOf(CLIENT_ID)
  await clock.advance(31_000)
  t.equal((await call(h)).status, 200, 'the old token failed, the new secret was exchanged')
  t.equal(h.broker.credentials.cachedVersion('jira-main'), 2)
  t.equal(h.fake.exchanges, 2)
})

t.test('Vault down or sealed: cached tokens keep serving; calls that need Vault fail fast with 503; recovery is automatic', async (t) => {
  const { h, vault: fake, clock } = await vaultHarness(t)
  t.equal((await call(h)).status, 200, 'jira-main token cached')
  await fake.down()
  await clock.advance(31_000)
  t.equal((await call(h)).status, 200, 'Vault down: the cached token still serves (revalidation failure tolerated)')
  const cold = await call(h, '/proxy/wiki-main/wiki/rest/api/user/current')
  t.equal(cold.status, 503, 'an integration never read needs Vault')
  t.equal(cold.body.code, 'BROKER_ERR_SECRET_STORE_UNAVAILABLE')
  t.ok(Number(cold.retryAfter) >= 1, 'with Retry-After')
  t.notMatch(JSON.stringify(cold.body), /stack|ECONNREFUSED|hvs\./, 'no stack trace or internals')
  await fake.up()
  fake.sealed = true
  const sealed = await call(h, '/proxy/wiki-main/wiki/rest/api/user/current')
  t.equal(sealed.status, 503, 'sealed is unavailable too')
  fake.sealed = false
  await clock.advance(31_000)
  t.equal((await call(h, '/proxy/wiki-main/wiki/rest/api/user/current')).status, 200, 'recovered by itself')
})

t.test('/readyz reports Vault state without flapping', async (t) => {
  const { h, vault: fake, clock } = await vaultHarness(t)
  const ready = async (): Promise<number> => {
    const response = await request(`${h.url}/readyz`)
    await response.body.dump()
    return response.statusCode
  }
  t.equal(await ready(), 200)
  fake.sealed = true
  await clock.advance(2_500)
  t.equal(await ready(), 200, 'one bad sample does not flip readiness')
  await clock.advance(2_500)
  await ready()
  await clock.advance(2_500)
  t.equal(await ready(), 503, 'three in a row do')
  fake.sealed = false
  await clock.advance(2_500)
  t.equal(await ready(), 200, 'one good sample restores it')
})
