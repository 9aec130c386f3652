import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { createCloudClient, isRateLimitError, isScopeError } from 'jira.js'
import { createV1Client, createV2Client } from 'confluence.js'
import {
  gatewayRateLimited, rateLimited, serviceUnavailable, startFakeAtlassian, streamChunk, streamSha256,
  type FakeAtlassian, type FakeAtlassianOptions
} from '../helpers/fake-atlassian.js'

const JIRA = 'b6a1c1c4-0000-4000-8000-00000000jira'
const WIKI = 'b6a1c1c4-0000-4000-8000-00000000wiki'

interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json: () => unknown
}

async function call (
  fake: FakeAtlassian,
  method: string,
  path: string,
  init: { headers?: Record<string, string | string[]>, body?: string | Readable } = {}
): Promise<Reply> {
  // A string URL keeps percent-escapes and the query as written (WHATWG URL only resolves dot segments).
  const res = await request(`${fake.url}${path}`, { method: method as 'GET', headers: init.headers, body: init.body })
  const text = await res.body.text()
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) as unknown }
}

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })
const basic = (user: string, password: string): Record<string, string> => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` })

async function exchange (fake: FakeAtlassian, clientId: string, clientSecret: string): Promise<Reply> {
  return call(fake, 'POST', '/oauth/token', {
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret })
  })
}

async function accessToken (fake: FakeAtlassian, clientId = 'svc', secret = 's3cret'): Promise<string> {
  const reply = await exchange(fake, clientId, secret)
  return (reply.json() as { access_token: string }).access_token
}

async function failure (promise: Promise<unknown>): Promise<unknown> {
  return promise.then(() => undefined, (error: unknown) => error)
}

async function setup (t: Test, options: FakeAtlassianOptions = {}): Promise<FakeAtlassian> {
  const fake = await startFakeAtlassian({ t, sites: [{ product: 'jira', cloudId: JIRA }, { product: 'confluence', cloudId: WIKI }], ...options })
  fake.addClient('svc', 's3cret')
  return fake
}

t.test('token endpoint: JSON body grants a Bearer token for 3600 s with no refresh token, uncached', async (t) => {
  const fake = await setup(t)
  const reply = await exchange(fake, 'svc', 's3cret')
  t.equal(reply.status, 200)
  t.match(reply.headers['content-type'], /^application\/json/)
  t.equal(reply.headers['cache-control'], 'no-store')
  const grant = reply.json() as Record<string, unknown>
  t.same(Object.keys(grant).sort(), ['access_token', 'expires_in', 'token_type'])
  t.equal(grant.token_type, 'Bearer')
  t.equal(grant.expires_in, 3600)
  t.match(grant.access_token, /^[A-Za-z0-9_-]{43}$/)
  t.same(fake.tokensOf('svc'), [grant.access_token])
  t.match(fake.requests[0], { endpoint: 'token', method: 'POST', clientId: 'svc', issuedAccessToken: grant.access_token, status: 200, tokenRequest: { format: 'json', clientAuth: 'body' } })
})

t.test('token endpoint: form body, and form with HTTP Basic client auth, both succeed', async (t) => {
  const fake = await setup(t)
  fake.addClient('id with+space', 'p:w&d')
  const form = await call(fake, 'POST', '/oauth/token', {
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'svc', client_secret: 's3cret' }).toString()
  })
  t.equal(form.status, 200)
  // RFC 6749 section 2.3.1: the id and secret are form-urlencoded before base64.
  const viaBasic = await call(fake, 'POST', '/oauth/token', {
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...basic('id+with%2Bspace', 'p%3Aw%26d') },
    body: 'grant_type=client_credentials'
  })
  t.equal(viaBasic.status, 200)
  t.match(fake.requests.map((r) => r.tokenRequest), [{ format: 'form', clientAuth: 'body' }, { format: 'form', clientAuth: 'basic', clientId: 'id with+space' }])
})

t.test('token endpoint errors: access_denied, unsupported_grant_type, invalid_request, method', async (t) => {
  const fake = await setup(t)
  for (const [id, secret] of [['svc', 'wrong'], ['nobody', 's3cret']] as const) {
    const denied = await exchange(fake, id, secret)
    t.equal(denied.status, 401)
    t.same(denied.json(), { error: 'access_denied', error_description: 'Unauthorized' })
  }
  const grant = await call(fake, 'POST', '/oauth/token', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: 'authorization_code', client_id: 'svc', client_secret: 's3cret' }) })
  t.equal(grant.status, 400)
  t.same(grant.json(), { error: 'unsupported_grant_type' })
  const garbage = await call(fake, 'POST', '/oauth/token', { headers: { 'content-type': 'application/json' }, body: '{nope' })
  t.same([garbage.status, garbage.json()], [400, { error: 'invalid_request' }])
  t.equal((await call(fake, 'GET', '/oauth/token')).status, 405)
})

t.test('exchange counting, per client, and reset()', async (t) => {
  const fake = await setup(t)
  fake.addClient('other', 'x')
  await accessToken(fake)
  await accessToken(fake)
  await exchange(fake, 'other', 'bad')
  t.equal(fake.exchanges, 3)
  t.equal(fake.exchangesFor('svc'), 2)
  t.equal(fake.exchangesFor('other'), 1)
  fake.reset()
  t.same([fake.exchanges, fake.exchangesFor('svc'), fake.requests.length], [0, 0, 0])
})

t.test('rotation, revocation, removal and expiry all answer the gateway 401', async (t) => {
  let now = Date.parse('2026-01-01T00:00:00Z')
  const fake = await setup(t, { now: () => now })
  const myself = `/ex/jira/${JIRA}/rest/api/3/myself`
  const first = await accessToken(fake)
  fake.setClientSecret('svc', 'rotated')
  t.equal((await exchange(fake, 'svc', 's3cret')).status, 401, 'old secret rejected after rotation')
  const second = await accessToken(fake, 'svc', 'rotated')
  t.equal((await call(fake, 'GET', myself, { headers: bearer(first) })).status, 200, 'tokens minted before rotation live on')
  fake.revokeToken(first)
  const revoked = await call(fake, 'GET', myself, { headers: bearer(first) })
  t.equal(revoked.status, 401)
  t.match(revoked.headers['content-type'], /^application\/json/)
  t.same(revoked.json(), { code: 401, message: 'Unauthorized' })
  t.equal((await call(fake, 'GET', myself, { headers: bearer(second) })).status, 200)
  now += 3600 * 1000
  t.equal((await call(fake, 'GET', myself, { headers: bearer(second) })).status, 401, 'expired after expires_in')
  const third = await accessToken(fake, 'svc', 'rotated')
  fake.revokeTokensOf('svc')
  t.equal((await call(fake, 'GET', myself, { headers: bearer(third) })).status, 401)
  const fourth = await accessToken(fake, 'svc', 'rotated')
  fake.removeClient('svc')
  t.equal((await call(fake, 'GET', myself, { headers: bearer(fourth) })).status, 401)
  t.equal((await exchange(fake, 'svc', 'rotated')).status, 401)
})

t.test('gateway 401 and 404 shapes', async (t) => {
  const fake = await setup(t)
  const token = await accessToken(fake)
  const path = `/ex/jira/${JIRA}/rest/api/3/myself`
  for (const headers of [{}, bearer('made-up'), { authorization: 'Token abc' }, basic('svc', 's3cret'), { authorization: [`Bearer ${token}`, `Bearer ${token}`] }]) {
    const reply = await call(fake, 'GET', path, { headers })
    t.equal(reply.status, 401)
    t.same(reply.json(), { code: 401, message: 'Unauthorized' })
  }
  t.equal((await call(fake, 'GET', '/ex/jira/not-a-site/rest/api/3/myself', { headers: bearer(token) })).status, 404)
  t.equal((await call(fake, 'GET', `/ex/bitbucket/${JIRA}/2.0/user`, { headers: bearer(token) })).status, 404)
  t.equal((await call(fake, 'GET', `/ex/confluence/${JIRA}/wiki/rest/api/user/current`, { headers: bearer(token) })).status, 404)
})

t.test('scopes: a missing scope answers "Unauthorized; scope does not match", which jira.js reads as a scope error', async (t) => {
  const fake = await setup(t)
  fake.addClient('narrow', 'n', { scopes: ['read:jira-work', 'read:confluence-user'] })
  const token = await accessToken(fake, 'narrow', 'n')
  const myself = await call(fake, 'GET', `/ex/jira/${JIRA}/rest/api/3/myself`, { headers: bearer(token) })
  t.equal(myself.status, 401)
  t.same(myself.json(), { code: 401, message: 'Unauthorized; scope does not match' })
  t.equal((await call(fake, 'GET', `/ex/confluence/${WIKI}/wiki/rest/api/user/current`, { headers: bearer(token) })).status, 200)
  t.equal((await call(fake, 'GET', `/ex/confluence/${WIKI}/wiki/api/v2/spaces`, { headers: bearer(token) })).status, 401, 'classic scopes do not authorise v2')
  fake.addRoute({ product: 'jira', method: 'GET', path: /^\/rest\/agile\//, scopes: [['read:board-scope:jira-software']] })
  t.equal((await call(fake, 'GET', `/ex/jira/${JIRA}/rest/agile/1.0/board`, { headers: bearer(token) })).status, 401)
  const jira = createCloudClient({ host: `${fake.url}/ex/jira/${JIRA}`, auth: { type: 'bearer', token } })
  t.ok(isScopeError(await failure(jira.myself.getCurrentUser())), 'jira.js sees a scope error, not a stale token')
})

t.test('scoped API tokens: Bearer, or Basic with the account email; no exchange', async (t) => {
  const fake = await setup(t)
  fake.addApiToken('ATATT-scoped', { email: 'bot@serviceaccount.atlassian.com' })
  const path = `/ex/jira/${JIRA}/rest/api/3/myself`
  t.match((await call(fake, 'GET', path, { headers: bearer('ATATT-scoped') })).json(), { emailAddress: 'bot@serviceaccount.atlassian.com', accountType: 'app' })
  t.equal((await call(fake, 'GET', path, { headers: basic('BOT@serviceaccount.atlassian.com', 'ATATT-scoped') })).status, 200)
  t.equal((await call(fake, 'GET', path, { headers: basic('someone@else.com', 'ATATT-scoped') })).status, 401)
  t.equal(fake.exchanges, 0)
  t.equal(fake.requests[0]?.apiToken, 'ATATT-scoped')
})

t.test('the site host: tenant_info without auth, 401 HTML for API calls', async (t) => {
  const fake = await setup(t)
  t.same((await call(fake, 'GET', '/_edge/tenant_info')).json(), { cloudId: JIRA })
  const site = await call(fake, 'GET', '/rest/api/3/myself', { headers: bearer(await accessToken(fake)) })
  t.equal(site.status, 401)
  t.match(site.headers['content-type'], /^text\/html/)
})

t.test('Jira routes: create, read back, 404, search', async (t) => {
  const fake = await setup(t)
  const token = await accessToken(fake)
  const base = `/ex/jira/${JIRA}/rest/api/3`
  const me = await call(fake, 'GET', `${base}/myself`, { headers: bearer(token) })
  t.match(me.json(), { accountId: /^712020:/, displayName: String, emailAddress: /@serviceaccount\.atlassian\.com$/ })
  const created = await call(fake, 'POST', `${base}/issue`, {
    headers: { ...bearer(token), 'content-type': 'application/json' },
    body: JSON.stringify({ fields: { project: { key: 'OPS' }, summary: 'Disk full', issuetype: { name: 'Bug' } } })
  })
  t.equal(created.status, 201)
  const { id, key, self } = created.json() as { id: string, key: string, self: string }
  t.equal(key, 'OPS-1')
  t.equal(self, `${fake.url}${base}/issue/${id}`)
  t.match((await call(fake, 'GET', `${base}/issue/ops-1`, { headers: bearer(token) })).json(), { id, key, self, fields: { summary: 'Disk full', issuetype: { name: 'Bug' } } })
  const missing = await call(fake, 'GET', `${base}/issue/OPS-99`, { headers: bearer(token) })
  t.same([missing.status, missing.json()], [404, { errorMessages: ['Issue does not exist or you do not have permission to see it.'], errors: {} }])
  const invalid = await call(fake, 'POST', `${base}/issue`, { headers: { ...bearer(token), 'content-type': 'application/json' }, body: '{"fields":{}}' })
  t.match([invalid.status, invalid.json()], [400, { errors: { summary: String, project: String } }])
  t.same((await call(fake, 'GET', `${base}/search/jql?jql=project%20%3D%20OPS`, { headers: bearer(token) })).json(), { issues: [{ id }], isLast: true })
})

t.test('real jira.js v6 and confluence.js v3 clients accept the fake\'s responses', async (t) => {
  const fake = await setup(t)
  const token = await accessToken(fake)
  const auth = { type: 'bearer' as const, token }
  // confluence.js always throws on a schema mismatch; jira.js only when asked to.
  const jira = createCloudClient({ host: `${fake.url}/ex/jira/${JIRA}`, auth, onSchemaMismatch: 'throw' })
  t.match(await jira.myself.getCurrentUser(), { accountType: 'app' })
  const created = await jira.issues.createIssue({ fields: { project: { key: 'OPS' }, summary: 'From jira.js', issuetype: { name: 'Task' } } })
  t.match(await jira.issues.getIssue({ issueIdOrKey: created.key }), { key: created.key, fields: { summary: 'From jira.js' } })
  const found = await jira.issueSearch.searchAndReconsileIssuesUsingJql({ jql: 'project = OPS', fields: ['summary'] })
  t.match(found.issues, [{ key: created.key, fields: { summary: 'From jira.js' } }])
  fake.addPage(WIKI, { id: '42', title: 'Runbook', body: '<p>hi</p>' })
  const v1 = createV1Client({ host: `${fake.url}/ex/confluence/${WIKI}`, auth })
  const v2 = createV2Client({ host: `${fake.url}/ex/confluence/${WIKI}`, auth })
  t.match(await v1.users.getCurrentUser(), { type: 'known', accountType: 'app' })
  t.match(await v2.page.getPageById({ id: 42, bodyFormat: 'storage' }), { id: '42', title: 'Runbook', body: { storage: { value: '<p>hi</p>' } } })
  t.match(await v2.space.getSpaces(), { results: [{ key: 'ENG' }] })
  fake.setNextResponses('/rest/api/3/myself', [rateLimited({ retryAfterSeconds: 7 })])
  const limited = await failure(jira.myself.getCurrentUser())
  t.ok(isRateLimitError(limited) && limited.retryAfterMs === 7000, 'jira.js reads the 429 and its Retry-After')
})

t.test('echo: unrouted gateway calls show exactly what reached upstream', async (t) => {
  const fake = await setup(t)
  const token = await accessToken(fake)
  const rawPath = `/ex/jira/${JIRA}/rest/api/3/project/A%2FB;v=1/x?b=2&a=1&a=%20&empty`
  const reply = await call(fake, 'PUT', rawPath, { headers: { ...bearer(token), 'X-Custom': 'Yes', 'content-type': 'text/plain' }, body: 'hello' })
  t.equal(reply.status, 200)
  t.match(reply.headers['atl-traceid'], /^[0-9a-f]{16}$/)
  t.match(reply.json(), {
    method: 'PUT',
    path: `/ex/jira/${JIRA}/rest/api/3/project/A%2FB;v=1/x`,
    apiPath: '/rest/api/3/project/A%2FB;v=1/x',
    query: 'b=2&a=1&a=%20&empty',
    headers: { 'x-custom': 'Yes', authorization: `Bearer ${token}` },
    bodyBytes: 5,
    bodySha256: createHash('sha256').update('hello').digest('hex')
  })
  const recorded = fake.requests.at(-1)
  t.match(recorded, { url: rawPath, clientId: 'svc', credential: { scheme: 'bearer', token }, bodyBytes: 5, status: 200 })
  t.ok(recorded?.rawHeaders.includes('X-Custom'), 'header names keep their case in rawHeaders')
})

t.test('injected responses: documented 429s, gateway 429, 503, one-shot 401, then back to normal', async (t) => {
  const fake = await setup(t)
  const token = await accessToken(fake)
  const path = `/ex/jira/${JIRA}/rest/api/3/myself`
  fake.setNextResponses(path, [
    rateLimited({ retryAfterSeconds: 1847, limit: 100_000, reason: 'jira-quota-global-based', resetAt: new Date('2025-10-08T15:00:00Z') }),
    rateLimited({ retryAfterSeconds: null }),
    gatewayRateLimited(),
    serviceUnavailable(3),
    serviceUnavailable(),
    { status: 401, body: { code: 401, message: 'Unauthorized' } }
  ])
  const quota = await call(fake, 'GET', path, { headers: bearer(token) })
  t.equal(quota.status, 429)
  t.match(quota.headers, { 'retry-after': '1847', 'x-ratelimit-limit': '100000', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '2025-10-08T15:00:00Z', 'ratelimit-reason': 'jira-quota-global-based' })
  const bare = await call(fake, 'GET', path, { headers: bearer(token) })
  t.equal(bare.status, 429)
  t.notOk('retry-after' in bare.headers)
  t.match(bare.headers['x-ratelimit-reset'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
  const gateway = await call(fake, 'GET', path, { headers: bearer(token) })
  t.match([gateway.status, gateway.headers], [429, { 'x-failure-category': 'FAILURE CLIENT RATE LIMITED', 'x-ratelimit-remaining': '0' }])
  t.notOk('retry-after' in gateway.headers)
  t.match([(await call(fake, 'GET', path, { headers: bearer(token) })).headers['retry-after'], 503], ['3', 503])
  const unavailable = await call(fake, 'GET', path, { headers: bearer(token) })
  t.same([unavailable.status, 'retry-after' in unavailable.headers], [503, false])
  t.equal((await call(fake, 'GET', path, { headers: bearer(token) })).status, 401)
  t.equal((await call(fake, 'GET', path, { headers: bearer(token) })).status, 200, 'queue drained: normal again')
  fake.betaRateLimitHeaders = true
  t.equal((await call(fake, 'GET', path, { headers: bearer(token) })).headers['beta-ratelimit-policy'], '"global-app-quota";q=65000;w=3600')
})

t.test('token endpoint modes', async (t) => {
  const fake = await setup(t, { slowTokenDelayMs: 150, absurdExpiresIn: 999_999_999 })
  fake.tokenEndpointMode = 'down'
  await t.rejects(exchange(fake, 'svc', 's3cret'))
  t.equal(fake.exchanges, 1, 'a reset connection still counts as an exchange attempt')
  fake.tokenEndpointMode = 'error500'
  t.equal((await exchange(fake, 'svc', 's3cret')).status, 500)
  fake.tokenEndpointMode = 'malformed'
  const malformed = await exchange(fake, 'svc', 's3cret')
  t.equal(malformed.status, 200)
  t.throws(() => malformed.json())
  fake.tokenEndpointMode = 'no-expires-in'
  const withoutLifetime = (await exchange(fake, 'svc', 's3cret')).json() as Record<string, unknown>
  t.match(withoutLifetime, { access_token: String, token_type: 'Bearer' })
  t.notOk('expires_in' in withoutLifetime)
  fake.tokenEndpointMode = 'absurd-expires-in'
  t.match((await exchange(fake, 'svc', 's3cret')).json(), { expires_in: 999_999_999 })
  fake.tokenEndpointMode = 'slow'
  const started = Date.now()
  t.equal((await exchange(fake, 'svc', 's3cret')).status, 200)
  t.ok(Date.now() - started >= 140, 'slow mode waits before answering')
  fake.reset()
  t.equal(fake.tokenEndpointMode, 'ok')
})

t.test('streaming: sink hashes a 5 MiB upload, stream sends a verifiable 3 MiB body', async (t) => {
  const fake = await setup(t)
  const token = await accessToken(fake)
  const size = 5 * 1024 * 1024 + 17
  const upload = Readable.from((function * () {
    for (let offset = 0; offset < size; offset += 64 * 1024) yield streamChunk(offset, size - offset)
  })())
  const sink = await call(fake, 'PUT', `/ex/confluence/${WIKI}/wiki/rest/api/content/1/child/attachment/sink`, { headers: bearer(token), body: upload })
  t.same(sink.json(), { bytes: size, sha256: streamSha256(size) })
  t.match(fake.requests.at(-1), { bodyBytes: size, bodySha256: streamSha256(size) })

  const bytes = 3 * 1024 * 1024 + 5
  const res = await request(`${fake.url}/ex/jira/${JIRA}/rest/api/3/attachment/content/stream/${bytes}`, { headers: bearer(token) })
  t.equal(res.headers['content-length'], String(bytes))
  const hash = createHash('sha256')
  let received = 0
  for await (const chunk of res.body) {
    hash.update(chunk as Buffer)
    received += (chunk as Buffer).length
  }
  t.same([received, hash.digest('hex')], [bytes, streamSha256(bytes)])

  const cut = await request(`${fake.url}/ex/jira/${JIRA}/x/stream/1000000?abortAfter=100000`, { headers: bearer(token) })
  await t.rejects(cut.body.arrayBuffer(), 'a body cut short of Content-Length fails on the client')
})

t.test('close() ends stalled responses and keep-alive sockets, so tests never hang', async (t) => {
  const fake = await startFakeAtlassian({ sites: [{ product: 'jira', cloudId: JIRA }] })
  fake.addApiToken('tok')
  await call(fake, 'GET', `/ex/jira/${JIRA}/rest/api/3/myself`, { headers: bearer('tok') })
  const stalled = await request(`${fake.url}/ex/jira/${JIRA}/x/stream/1000000?stallAfter=1000`, { headers: bearer('tok') })
  const reading = stalled.body.arrayBuffer()
  await fake.close()
  await t.rejects(reading)
  await fake.close()
  t.pass('close() is idempotent')
})
