/**
 * Faults at Atlassian's token endpoint (docs/security.md, "Fault tolerance"): for each, what the caller gets, that
 * nothing reaches the API gateway without a token, that the endpoint is not hammered, and that the broker recovers by
 * itself.
 */
import t, { type Test } from 'tap'
import { CLIENT_ID, JIRA_CLOUD_ID, WIKI_CLOUD_ID, startHarness, type Harness } from '../helpers/broker-harness.js'
import { call, gatewayRequests } from '../helpers/calls.js'
import { FakeAtlassian, json } from '../helpers/fake-atlassian.js'
import { ManualClock } from '../helpers/manual-clock.js'

type Fault = (h: Harness) => void

/** `retryAfter`: true when the first answer carries one, or the exact value expected. */
interface Case { name: string, fault: Fault, status: number, code: string, retryAfter: true | string }

const TIMEOUTS = { connectMs: 500, headersMs: 2_000, bodyMs: 2_000, tokenMs: 150 }

const CASES: Case[] = [
  { name: 'down (connection reset)', fault: (h) => { h.fake.tokenEndpointMode = 'down' }, status: 503, code: 'BROKER_ERR_TOKEN_ENDPOINT_UNAVAILABLE', retryAfter: true },
  { name: '500 server_error', fault: (h) => { h.fake.tokenEndpointMode = 'error500' }, status: 503, code: 'BROKER_ERR_TOKEN_ENDPOINT_UNAVAILABLE', retryAfter: true },
  { name: 'slow (past timeouts.tokenMs)', fault: (h) => { h.fake.tokenEndpointMode = 'slow' }, status: 503, code: 'BROKER_ERR_TOKEN_ENDPOINT_UNAVAILABLE', retryAfter: true },
  { name: 'malformed JSON', fault: (h) => { h.fake.tokenEndpointMode = 'malformed' }, status: 503, code: 'BROKER_ERR_TOKEN_ENDPOINT_UNAVAILABLE', retryAfter: true },
  {
    name: '429 with Retry-After',
    fault: (h) => { h.fake.setNextResponses('/oauth/token', [json(429, { error: 'rate_limited' }, { 'retry-after': '7' })]) },
    status: 503,
    code: 'BROKER_ERR_TOKEN_ENDPOINT_UNAVAILABLE',
    retryAfter: '7'
  },
  {
    name: 'access_denied (credential revoked)',
    fault: (h) => { h.fake.setNextResponses('/oauth/token', [json(403, { error: 'access_denied', error_description: 'Unauthorized' })]) },
    status: 502,
    code: 'BROKER_ERR_CREDENTIAL_REJECTED',
    // the backoff's delay: callers that retry on their own are told when the broker will try again
    retryAfter: true
  }
]

async function faultyHarness (t: Test, clock: ManualClock): Promise<Harness> {
  const fake = await FakeAtlassian.start({
    t,
    sites: [
      { product: 'jira', cloudId: JIRA_CLOUD_ID },
      { product: 'confluence', cloudId: WIKI_CLOUD_ID }
    ],
    slowTokenDelayMs: 1_500
  })
  const h = await startHarness(t, {
    clock,
    fake,
    config: { atlassian: { tokenUrl: fake.tokenUrl, apiUrl: fake.url, timeouts: TIMEOUTS } }
  })
  return h
}

for (const fault of CASES) {
  t.test(`token endpoint ${fault.name}: ${fault.status} ${fault.code}, then recovery without a restart`, async (t) => {
    const clock = new ManualClock(Date.now())
    const h = await faultyHarness(t, clock)
    fault.fault(h)
    const failed = await call(h)
    t.equal(failed.status, fault.status, 'status')
    t.equal(failed.code, fault.code, 'code')
    if (typeof fault.retryAfter === 'string') t.equal(failed.retryAfter, fault.retryAfter, 'Atlassian\'s Retry-After is passed on')
    else t.ok(Number(failed.retryAfter) >= 1, `Retry-After ${failed.retryAfter ?? 'missing'}`)
    t.equal(gatewayRequests(h), 0, 'nothing went to the API without a token')

    const exchanges = h.fake.exchanges
    const during = await Promise.all(Array.from({ length: 20 }, () => call(h)))
    t.ok(during.every((result) => result.status === fault.status && Number(result.retryAfter) >= 1), 'repeat calls answered from the backoff, with Retry-After')
    t.equal(h.fake.exchanges, exchanges, 'the endpoint is not hammered while the backoff lasts')

    h.fake.tokenEndpointMode = 'ok'
    await clock.advance(6 * 60_000)
    const recovered = await call(h)
    t.equal(recovered.status, 200, 'recovers by itself once the endpoint answers again')
    t.equal(h.broker.tokens.state('jira-main').lastExchange?.outcome, 'ok')
  })
}

t.test('token endpoint answers without expires_in: 3600 s assumed (Atlassian\'s documented lifetime), refreshed ahead', async (t) => {
  const clock = new ManualClock(Date.now())
  const h = await faultyHarness(t, clock)
  h.fake.tokenEndpointMode = 'no-expires-in'
  t.equal((await call(h)).status, 200)
  t.equal(h.broker.tokens.state('jira-main').expiresInSeconds, 3_600)
  t.match(h.logs.join('\n'), /expires_in missing; assuming 3600 s/, 'the anomaly is logged')
  h.fake.tokenEndpointMode = 'ok'
  await clock.advance(56 * 60_000)
  t.equal((await call(h)).status, 200)
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(h.fake.exchanges, 2, 'refreshed before the assumed expiry')
})

t.test('token endpoint answers an absurd expires_in: clamped to a day; when the token dies early the 401 replay recovers', async (t) => {
  const clock = new ManualClock(Date.now())
  const fake = await FakeAtlassian.start({
    t,
    sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }],
    now: () => clock.now(),
    tokenLifetimeSeconds: 3_600
  })
  const h = await startHarness(t, {
    clock,
    fake,
    config: { atlassian: { tokenUrl: fake.tokenUrl, apiUrl: fake.url, timeouts: TIMEOUTS } }
  })
  h.fake.tokenEndpointMode = 'absurd-expires-in'
  t.equal((await call(h)).status, 200)
  t.equal(h.broker.tokens.state('jira-main').expiresInSeconds, 86_400, 'ten years clamped to 86400 s')
  t.match(h.logs.join('\n'), /expires_in 315360000 above 86400 s; clamped/)
  await clock.advance(2 * 3_600_000)
  const afterDeath = await call(h)
  t.equal(afterDeath.status, 200, 'the token really died after an hour: Atlassian\'s 401 led to a fresh exchange and a replay')
  t.equal(h.fake.exchanges, 2)
  t.equal(h.fake.tokensOf(CLIENT_ID).length, 2)
})
