/**
 * No leak (docs/security.md, "No leak"): every error path is driven, over both secret stores, and everything a person
 * or a scraper can read afterwards (log lines, answer bodies and headers, /metrics, /admin/usage, /admin/integrations,
 * the audit files) is scanned for every secret the test planted: client secrets (current, rotated, refused), an API
 * token, access tokens, caller and admin JWTs, the caller signing key, the master key, Vault tokens and the AppRole
 * secret id.
 * test/no-leak.test.ts is the quick version of this over the file store alone.
 */
import { readFileSync } from 'node:fs'
import net from 'node:net'
import { Readable } from 'node:stream'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { createFileStore } from '../../src/secrets/file/file-store.js'
import type { SecretStore } from '../../src/secrets/secret-store.js'
import { createVaultStore } from '../../src/secrets/vault/vault-store.js'
import { CALLER_SECRET, CLIENT_ID, CLIENT_SECRET, JIRA_CLOUD_ID, MASTER_KEY, startHarness, WIKI_CLOUD_ID, type Harness } from '../helpers/broker-harness.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'
import type { FakeVault } from '../helpers/fake-vault.js'
import { head, rawHttp } from '../helpers/raw-http.js'
import { startBrokerVault } from '../helpers/test-stores.js'
import { captureLogger } from '../secrets/vault-store-cases.js'

const NEW_SECRET = 'svc-client-secret-ROTATED-7a7a7a7a7a'
const REFUSED_SECRET = 'svc-client-secret-REFUSED-5b5b5b5b5b'
const API_TOKEN = 'ATATT3xFfGF0-planted-api-token-9c9c9c9c'
const API_EMAIL = 'bot@serviceaccount.atlassian.com'
const ADMIN_ROLE = 'broker-admin'

interface Scan { texts: string[], jwts: string[] }

async function openStore (t: Test, kind: 'file' | 'vault'): Promise<{ store: SecretStore, vault: FakeVault | undefined, secretId: string | undefined, storeLogs: () => string }> {
  const { logger, text } = captureLogger()
  if (kind === 'file') {
    const store = await createFileStore({ path: `${t.testdir({})}/secrets.enc`, masterKey: MASTER_KEY, logger })
    return { store, vault: undefined, secretId: undefined, storeLogs: text }
  }
  const { fakeVault, vaultConfig } = await startBrokerVault()
  t.teardown(() => fakeVault.close())
  const store = await createVaultStore({ config: vaultConfig, logger, random: () => 0 })
  const secretId = vaultConfig.auth.method === 'approle' ? vaultConfig.auth.secretId : undefined
  return { store, vault: fakeVault, secretId, storeLogs: text }
}

async function abandonUpload (h: Harness, jwt: string): Promise<void> {
  const socket = net.connect(Number(new URL(h.url).port), '127.0.0.1')
  socket.on('error', () => {})
  socket.write(head('PUT /proxy/jira-main/rest/api/3/attachments/sink HTTP/1.1', ['Host: broker', `Authorization: Bearer ${jwt}`, 'Content-Length: 10000000']))
  socket.write(Buffer.alloc(200_000, 1))
  await new Promise((resolve) => setTimeout(resolve, 100))
  socket.destroy()
}

for (const kind of ['file', 'vault'] as const) {
  t.test(`${kind} store: no planted secret in logs, error bodies, metrics, admin answers or audit files`, async (t) => {
    const dir = t.testdir({})
    const { store, vault, secretId, storeLogs } = await openStore(t, kind)
    const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }, { product: 'confluence', cloudId: WIKI_CLOUD_ID }] })
    const h = await startHarness(t, {
      store,
      fake,
      config: {
        callers: {
          jwt: { audience: 'atlassian-broker', hs256Secret: CALLER_SECRET },
          admin: { role: ADMIN_ROLE, auditFile: `${dir}/admin-audit.jsonl` }
        },
        usage: { auditFile: `${dir}/calls.jsonl` },
        limits: { headerBytes: 16_384, bodyBytes: 65_536 },
        atlassian: {
          tokenUrl: fake.tokenUrl,
          apiUrl: fake.url,
          timeouts: { connectMs: 500, headersMs: 400, bodyMs: 400, tokenMs: 400 }
        },
        integrations: {
          'jira-main': { product: 'jira', cloudId: JIRA_CLOUD_ID },
          'wiki-main': { product: 'confluence', cloudId: WIKI_CLOUD_ID },
          'jira-api': { product: 'jira', cloudId: JIRA_CLOUD_ID, credential: 'api-token' },
          'jira-empty': { product: 'jira', cloudId: JIRA_CLOUD_ID }
        },
        policy: [
          { caller: 'report-job', integration: '*', methods: ['GET', 'POST', 'PUT'], paths: ['/**'] },
          {
            caller: 'limited-job',
            integration: 'jira-main',
            methods: ['GET'],
            paths: ['/**'],
            rateLimit: { perSecond: 0.01, burst: 1 }
          }
        ]
      }
    })
    h.fake.addApiToken(API_TOKEN, { email: API_EMAIL })
    await h.store.put('jira-api', { token: API_TOKEN, email: API_EMAIL })
    const scan: Scan = { texts: [], jwts: [] }
    const jwt = (sub = 'report-job', claims: Record<string, unknown> = {}, ttl?: number): string => {
      const token = h.callerToken(sub, claims, ttl)
      scan.jwts.push(token)
      return token
    }
    const send = async (
      method: string,
      path: string,
      options: { token?: string | null, body?: string | Buffer | Readable, headers?: Record<string, string> } = {}
    ): Promise<number> => {
      const token = options.token === undefined ? jwt() : options.token
      try {
        const response = await request(`${h.url}${path}`, {
          method: method as 'GET',
          headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...options.headers },
          ...(options.body === undefined ? {} : { body: options.body })
        })
        scan.texts.push(JSON.stringify(response.headers), await response.body.text())
        return response.statusCode
      } catch (error) {
        scan.texts.push(String(error))
        return 0
      }
    }
    const raw = async (bytes: string): Promise<number> => {
      const response = await rawHttp(h.url, bytes)
      scan.texts.push(response.raw)
      return response.status
    }
    const drive: Array<[string, () => Promise<number>, number]> = [
      ['200 through an OAuth integration', () => send('GET', '/proxy/jira-main/rest/api/3/myself'), 200],
      ['200 through an API-token integration', () => send('GET', '/proxy/jira-api/rest/api/3/myself'), 200],
      ['401 no token', () => send('GET', '/proxy/jira-main/rest/api/3/myself', { token: null }), 401],
      ['401 bad signature', () => send('GET', '/proxy/jira-main/rest/api/3/myself', { token: `${jwt()}x` }), 401],
      ['401 expired', () => send('GET', '/proxy/jira-main/rest/api/3/myself', { token: jwt('report-job', {}, -3_600) }), 401],
      ['401 oversized', () => send('GET', '/proxy/jira-main/rest/api/3/myself', { token: jwt('report-job', { pad: 'p'.repeat(9_000) }) }), 401],
      ['403 unknown caller', () => send('GET', '/proxy/jira-main/rest/api/3/myself', { token: jwt('stranger') }), 403],
      ['403 admin route without the role', () => send('GET', '/admin/integrations'), 403],
      ['404 unknown integration', () => send('GET', '/proxy/nope/rest/api/3/myself'), 404],
      ['404 unknown route', () => send('GET', '/nowhere'), 404],
      ['400 unsafe path', () => raw(head('GET /proxy/jira-main/rest/%2e%2e/admin HTTP/1.1', ['Host: b', `Authorization: Bearer ${jwt()}`, 'Connection: close'])), 400],
      ['400 smuggling shape', () => raw(head('POST /proxy/jira-main/x HTTP/1.1', ['Host: b', `Authorization: Bearer ${jwt()}`, 'Content-Length: 5', 'Transfer-Encoding: chunked']) + '0\r\n\r\n'), 400],
      ['400 undecodable target', () => raw(head('GET /proxy/jira-main/%C0%AE HTTP/1.1', ['Host: b', `Authorization: Bearer ${jwt()}`, 'Connection: close'])), 400],
      ['431 headers too large', () => raw(head('GET /proxy/jira-main/x HTTP/1.1', ['Host: b', `Authorization: Bearer ${jwt()}`, `X-Pad: ${'p'.repeat(17_000)}`])), 431],
      ['413 declared', () => send('PUT', '/proxy/jira-main/rest/api/3/attachments/sink', { body: Buffer.alloc(70_000) }), 413],
      ['413 streamed', () => send('PUT', '/proxy/jira-main/rest/api/3/attachments/sink', { body: Readable.from([Buffer.alloc(40_000), Buffer.alloc(40_000)]) }), 413],
      ['429 caller rate limit', async () => { await send('GET', '/proxy/jira-main/rest/api/3/myself', { token: jwt('limited-job') }); return send('GET', '/proxy/jira-main/rest/api/3/myself', { token: jwt('limited-job') }) }, 429],
      ['503 no credential stored', () => send('GET', '/proxy/jira-empty/rest/api/3/myself'), 503],
      ['200 after Atlassian revoked the token (401 replay)', async () => { h.fake.revokeTokensOf(CLIENT_ID); return send('GET', '/proxy/jira-main/rest/api/3/myself') }, 200],
      ['502 upstream reset, secret-looking body', async () => {
        h.fake.setNextResponses((r) => r.endpoint === 'gateway', [{ status: 0, destroySocket: true }])
        return send('POST', '/proxy/jira-main/rest/api/3/issue', { body: JSON.stringify({ client_secret: CLIENT_SECRET, token: API_TOKEN }), headers: { 'content-type': 'application/json' } })
      }, 502],
      ['504 upstream hang', async () => { h.fake.setNextResponses((r) => r.endpoint === 'gateway', [{ status: 200, delayMs: 3_000 }]); return send('GET', '/proxy/jira-main/rest/api/3/slow') }, 504],
      ['caller gone mid-upload', async () => { await abandonUpload(h, jwt()); return 0 }, 0],
      ['422 rotation refused by Atlassian', () => send('POST', '/admin/integrations/jira-main/rotate', { token: jwt('ops', { roles: [ADMIN_ROLE] }), headers: { 'content-type': 'application/json' }, body: JSON.stringify({ credential: { client_id: CLIENT_ID, client_secret: REFUSED_SECRET } }) }), 422],
      ['400 rotation body without the credential wrapper', () => send('POST', '/admin/integrations/jira-main/rotate', { token: jwt('ops', { roles: [ADMIN_ROLE] }), headers: { 'content-type': 'application/json' }, body: JSON.stringify({ client_id: CLIENT_ID, client_secret: REFUSED_SECRET }) }), 400],
      ['400 rotation with a malformed credential', () => send('POST', '/admin/integrations/jira-main/rotate', { token: jwt('ops', { roles: [ADMIN_ROLE] }), headers: { 'content-type': 'application/json' }, body: JSON.stringify({ credential: { client_id: CLIENT_ID, client_secret: [REFUSED_SECRET] } }) }), 400],
      ['200 rotation', async () => {
        h.fake.setClientSecret(CLIENT_ID, NEW_SECRET)
        return send('POST', '/admin/integrations/jira-main/rotate', { token: jwt('ops', { roles: [ADMIN_ROLE] }), headers: { 'content-type': 'application/json' }, body: JSON.stringify({ credential: { client_id: CLIENT_ID, client_secret: NEW_SECRET } }) })
      }, 200],
      ['422 rollback to a credential Atlassian now refuses', () => send('POST', '/admin/integrations/jira-main/rollback', { token: jwt('ops', { roles: [ADMIN_ROLE] }), headers: { 'content-type': 'application/json' }, body: '{}' }), 422],
      ['200 drop the cached token', () => send('DELETE', '/admin/integrations/jira-main/token', { token: jwt('ops', { roles: [ADMIN_ROLE] }) }), 200],
      ['502 credential rejected at the token endpoint', async () => {
        h.fake.setNextResponses('/oauth/token', [{ status: 401, body: { error: 'access_denied' } }])
        return send('GET', '/proxy/jira-main/rest/api/3/myself')
      }, 502],
      ['503 token endpoint down', async () => { h.fake.tokenEndpointMode = 'down'; await send('DELETE', '/admin/integrations/wiki-main/token', { token: jwt('ops', { roles: [ADMIN_ROLE] }) }); return send('GET', '/proxy/wiki-main/wiki/rest/api/user/current') }, 503]
    ]
    if (vault !== undefined) {
      drive.push(
        ['200 after Vault revoked the broker\'s token', async () => { h.fake.tokenEndpointMode = 'ok'; vault.revokeToken(vault.issuedTokens.at(-1) ?? ''); return send('GET', '/admin/integrations/jira-main/history', { token: jwt('ops', { roles: [ADMIN_ROLE] }) }) }, 200],
        ['503 Vault sealed', async () => { vault.sealed = true; const status = await send('GET', '/admin/integrations/jira-main/history', { token: jwt('ops', { roles: [ADMIN_ROLE] }) }); vault.sealed = false; return status }, 503],
        ['503 Vault down', async () => { await vault.down(); const status = await send('GET', '/admin/integrations/jira-empty/history', { token: jwt('ops', { roles: [ADMIN_ROLE] }) }); await vault.up(); return status }, 503]
      )
    }
    for (const [name, run, expected] of drive) t.equal(await run(), expected, name)
    h.fake.tokenEndpointMode = 'ok'

    const admin = jwt('ops', { roles: [ADMIN_ROLE] })
    for (const path of ['/metrics', '/admin/usage', '/admin/integrations', '/admin/integrations/jira-main', '/admin/integrations/jira-main/history', '/admin/integrations/jira-api', '/readyz']) {
      t.equal(await send('GET', path, { token: admin }), 200, `${path} answers`)
    }
    await new Promise((resolve) => setTimeout(resolve, 300))
    const files = [`${dir}/admin-audit.jsonl`, `${dir}/calls.jsonl`].map((file) => readFileSync(file, 'utf8'))
    t.ok(files.every((text) => text.length > 0), 'both audit files were written')

    // Control: the fake's echo route shows what the broker sent upstream (kept out of the scanned texts); the planted
    // API-token credential must be in it, or the planted list would not hold the values that could leak.
    const echo = await request(`${h.url}/proxy/jira-api/rest/api/3/echo-control`, { headers: { authorization: `Bearer ${jwt()}` } })
    const echoed = await echo.body.text()
    const planted = [
      CLIENT_SECRET, NEW_SECRET, REFUSED_SECRET, API_TOKEN, Buffer.from(`${API_EMAIL}:${API_TOKEN}`).toString('base64'), CALLER_SECRET, MASTER_KEY,
      ...h.fake.tokensOf(CLIENT_ID), ...scan.jwts, ...scan.jwts.map((token) => token.split('.')[2] ?? token),
      ...(vault === undefined ? [] : [vault.rootToken, ...vault.issuedTokens, secretId ?? ''])
    ].filter((secret) => secret.length >= 12)
    t.ok(h.fake.tokensOf(CLIENT_ID).length >= 3, 'access tokens were minted, so there was something to leak')
    const haystack = [...h.logs, storeLogs(), ...scan.texts, ...files].join('\n')
    t.ok(h.logs.length > 40, `${h.logs.length} log lines captured`)
    const leaked = planted.filter((secret) => haystack.includes(secret))
    t.ok(planted.some((secret) => echoed.includes(secret)), 'control: the scan would see a leak (the echoed upstream Authorization holds a planted credential)')
    t.same(leaked.map((secret) => `${secret.slice(0, 6)}… (${secret.length} chars)`), [], `none of ${planted.length} planted secrets appears anywhere`)
    t.notMatch(haystack, /hvs\.[A-Za-z0-9_-]{8,}|"client_secret":"[^"[]/, 'no Vault token shape, no client_secret value')
  })
}
