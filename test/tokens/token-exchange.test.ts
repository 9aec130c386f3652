/** The client-credentials exchange, its cache, single-flight, refresh ahead of expiry and failure backoff. */
import t from 'tap'
import { request } from 'undici'
import { CLIENT_ID, CLIENT_SECRET, startHarness } from '../helpers/broker-harness.js'
import { ManualClock } from '../helpers/manual-clock.js'

const MYSELF = '/proxy/jira-main/rest/api/3/myself'

async function call (
  url: string,
  token: string
): Promise<{ status: number, body: Record<string, unknown>, headers: Record<string, unknown> }> {
  const response = await request(`${url}${MYSELF}`, { headers: { authorization: `Bearer ${token}` } })
  return {
    status: response.statusCode,
    body: (await response.body.json()) as Record<string, unknown>,
    headers: response.headers
  }
}

t.test('exchange request follows Atlassian: JSON client_credentials body', async (t) => {
  const h = await startHarness(t)
  t.equal((await call(h.url, h.callerToken('report-job'))).status, 200)
  const exchange = h.fake.requests.find((r) => r.endpoint === 'token')
  t.match(exchange?.tokenRequest, { format: 'json', clientAuth: 'body', grantType: 'client_credentials', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET })
})

t.test('200 concurrent cold requests cause exactly one exchange', async (t) => {
  const h = await startHarness(t)
  const token = h.callerToken('report-job')
  const results = await Promise.all(Array.from({ length: 200 }, () => call(h.url, token)))
  t.ok(results.every((result) => result.status === 200), 'all 200 answered')
  t.equal(h.fake.exchanges, 1)
})

t.test('cached until shortly before expiry, refreshed ahead while traffic continues', async (t) => {
  const clock = new ManualClock(Date.now())
  const h = await startHarness(t, { clock })
  const token = h.callerToken('report-job', {}, 86_400)
  await call(h.url, token)
  await call(h.url, token)
  t.equal(h.fake.exchanges, 1, 'second call served from cache')
  await clock.advance(50 * 60_000)
  await call(h.url, token)
  t.equal(h.fake.exchanges, 1, '50 minutes in: still the first token')
  await clock.advance(6 * 60_000)
  const during = await call(h.url, token)
  t.equal(during.status, 200, 'inside the refresh window the current token still answers')
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(h.fake.exchanges, 2, 'and a refresh ran in the background')
  const tokensUsed = new Set(h.fake.requests.filter((r) => r.endpoint === 'gateway').map((r) => String(r.headers.authorization)))
  await call(h.url, token)
  const after = h.fake.requests.filter((r) => r.endpoint === 'gateway').at(-1)
  t.notOk(tokensUsed.has(String(after?.headers.authorization)), 'the next call uses the refreshed token')
})

t.test('a rejected credential: 502 with a stable code, and not retried in a tight loop', async (t) => {
  const clock = new ManualClock(Date.now())
  const h = await startHarness(t, { clock })
  h.fake.setClientSecret(CLIENT_ID, 'rotated-elsewhere')
  const token = h.callerToken('report-job', {}, 86_400)
  const first = await call(h.url, token)
  t.equal(first.status, 502)
  t.equal(first.body.code, 'BROKER_ERR_CREDENTIAL_REJECTED')
  t.notMatch(JSON.stringify(first.body), /access_denied|client_secret|svc-client/, 'generic 5xx message')
  const again = await Promise.all(Array.from({ length: 20 }, () => call(h.url, token)))
  t.ok(again.every((result) => result.status === 502 && Number(result.headers['retry-after']) >= 1), 'answered from the negative cache with Retry-After')
  t.equal(h.fake.exchanges, 1, 'one exchange for 21 requests')
  await clock.advance(6_000)
  await call(h.url, token)
  t.equal(h.fake.exchanges, 2, 'retried after the backoff')
  await call(h.url, token)
  t.equal(h.fake.exchanges, 2, 'backoff doubled')
  t.equal(h.broker.tokens.state('jira-main').lastExchange?.outcome, 'rejected')
})

t.test('an unreachable token endpoint: 503 with Retry-After, then recovery', async (t) => {
  const clock = new ManualClock(Date.now())
  const h = await startHarness(t, { clock })
  const token = h.callerToken('report-job', {}, 86_400)
  h.fake.tokenEndpointMode = 'down'
  const down = await call(h.url, token)
  t.equal(down.status, 503)
  t.equal(down.body.code, 'BROKER_ERR_TOKEN_ENDPOINT_UNAVAILABLE')
  t.ok(Number(down.headers['retry-after']) >= 1)
  h.fake.tokenEndpointMode = 'error500'
  await clock.advance(2_000)
  t.equal((await call(h.url, token)).status, 503, '500 from the endpoint is unavailable too')
  h.fake.tokenEndpointMode = 'ok'
  await clock.advance(60_000)
  t.equal((await call(h.url, token)).status, 200, 'recovers by itself')
})

t.test('no credential stored: 503 BROKER_ERR_CREDENTIAL_NOT_CONFIGURED', async (t) => {
  const h = await startHarness(t, { empty: true })
  const result = await call(h.url, h.callerToken('report-job'))
  t.equal(result.status, 503)
  t.equal(result.body.code, 'BROKER_ERR_CREDENTIAL_NOT_CONFIGURED')
})

t.test('api-token integrations: Bearer token, or Basic email:token, with no exchange', async (t) => {
  const h = await startHarness(t, {
    config: {
      integrations: {
        'jira-main': { product: 'jira', cloudId: '11111111-1111-1111-1111-111111111111', credential: 'api-token' },
        'wiki-main': { product: 'confluence', cloudId: '22222222-2222-2222-2222-222222222222', credential: 'api-token' }
      }
    },
    empty: true
  })
  h.fake.addApiToken('scoped-api-token-1', { email: 'bot@serviceaccount.atlassian.com' })
  await h.store.put('jira-main', { token: 'scoped-api-token-1' })
  await h.store.put('wiki-main', { token: 'scoped-api-token-1', email: 'bot@serviceaccount.atlassian.com' })
  const token = h.callerToken('report-job')
  t.equal((await call(h.url, token)).status, 200)
  const wiki = await request(`${h.url}/proxy/wiki-main/wiki/rest/api/user/current`, { headers: { authorization: `Bearer ${token}` } })
  await wiki.body.dump()
  t.equal(wiki.statusCode, 200)
  const gateway = h.fake.requests.filter((r) => r.endpoint === 'gateway')
  t.equal(gateway[0]?.headers.authorization, 'Bearer scoped-api-token-1')
  t.equal(gateway[1]?.headers.authorization, `Basic ${Buffer.from('bot@serviceaccount.atlassian.com:scoped-api-token-1').toString('base64')}`)
  t.equal(h.fake.exchanges, 0)
})

t.test('the token endpoint\'s Retry-After is a floor under the backoff, and the first refusal carries Retry-After too', async (t) => {
  const clock = new ManualClock(Date.now())
  const h = await startHarness(t, { clock })
  const token = h.callerToken('report-job', {}, 86_400)
  h.fake.setNextResponses('/oauth/token', [{ status: 503, headers: { 'retry-after': '20' }, body: { error: 'temporarily_unavailable' } }])
  const first = await call(h.url, token)
  t.equal(first.status, 503)
  t.equal(first.headers['retry-after'], '20', 'the endpoint asked for 20 s, so does the broker')
  await clock.advance(10_000)
  t.equal((await call(h.url, token)).status, 503, 'still waiting after 10 s (our own backoff alone would have retried)')
  t.equal(h.fake.exchanges, 1)
  await clock.advance(11_000)
  t.equal((await call(h.url, token)).status, 200)
  t.equal(h.fake.exchanges, 2)

  h.fake.setClientSecret(CLIENT_ID, 'changed-elsewhere')
  h.fake.revokeTokensOf(CLIENT_ID)
  const rejected = await call(h.url, token)
  t.equal(rejected.status, 502)
  t.ok(Number(rejected.headers['retry-after']) >= 1, 'the first BROKER_ERR_CREDENTIAL_REJECTED answer says when to come back')
})

t.test('a token endpoint error body is never logged as free text', async (t) => {
  const h = await startHarness(t)
  h.fake.setNextResponses('/oauth/token', [{ status: 500, body: { error: 'internal failure; token=leaked-looking-value' } }])
  const failed = await call(h.url, h.callerToken('report-job'))
  t.equal(failed.status, 503)
  t.notOk(h.logs.join('\n').includes('leaked-looking-value'), 'only an OAuth-shaped error code reaches the log')
  t.match(h.logs.join('\n'), /unrecognised error code/)
})
