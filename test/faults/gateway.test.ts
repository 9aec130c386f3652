/**
 * Faults at Atlassian's API gateway (docs/security.md, "Fault tolerance"): resets before and during the answer, hangs
 * in each phase (connect, headers, body; `atlassian.timeouts.*`, small here), 502/503 with and without Retry-After. For
 * each:
 * what the caller gets, and that the next call works with no restart and no upstream socket left behind.
 */
import t, { type Test } from 'tap'
import { request } from 'undici'
import { JIRA_CLOUD_ID, WIKI_CLOUD_ID, startHarness, type Harness } from '../helpers/broker-harness.js'
import { startBlackhole } from '../helpers/blackhole.js'
import { call, eventually, gatewayRequests } from '../helpers/calls.js'
import { FakeAtlassian, serviceUnavailable } from '../helpers/fake-atlassian.js'

const TIMEOUTS = { connectMs: 300, headersMs: 400, bodyMs: 400, tokenMs: 2_000 }

async function harness (t: Test, apiUrl?: string): Promise<Harness> {
  const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }, { product: 'confluence', cloudId: WIKI_CLOUD_ID }] })
  return startHarness(t, {
    fake,
    config: { atlassian: { tokenUrl: fake.tokenUrl, apiUrl: apiUrl ?? fake.url, timeouts: TIMEOUTS } }
  })
}

/** Reads a download to its end; resolves with the bytes received and whether the stream ended in an error. */
async function download (
  h: Harness,
  path: string
): Promise<{ status: number, bytes: number, broken: boolean, contentLength: number }> {
  const response = await request(`${h.url}/proxy/jira-main${path}`, {
    headers: { authorization: `Bearer ${h.callerToken('report-job')}` }
  })
  let bytes = 0
  let broken = false
  try {
    for await (const chunk of response.body) bytes += (chunk as Buffer).length
  } catch {
    broken = true
  }
  return { status: response.statusCode, bytes, broken, contentLength: Number(response.headers['content-length']) }
}

async function assertRecovers (t: Test, h: Harness): Promise<void> {
  t.equal((await call(h)).status, 200, 'the next call works: the broker recovered by itself')
}

t.test('reset before the answer: 502 BROKER_ERR_UPSTREAM_UNAVAILABLE, generic message, then recovery', async (t) => {
  const h = await harness(t)
  h.fake.setNextResponses((r) => r.endpoint === 'gateway', [{ status: 0, destroySocket: true }])
  const reset = await call(h, '/rest/api/3/issue/OPS-1')
  t.equal(reset.status, 502)
  t.equal(reset.code, 'BROKER_ERR_UPSTREAM_UNAVAILABLE')
  t.notMatch(reset.body, /socket|ECONN|other side|127\.0\.0\.1/, 'no transport detail for the caller')
  t.match(h.logs.join('\n'), /"cause":"other side closed"/, 'the detail is in the log')
  await assertRecovers(t, h)
})

t.test('reset mid-response: the caller sees a body cut short of Content-Length, never a silently truncated success', async (t) => {
  const h = await harness(t)
  const cut = await download(h, '/rest/api/3/attachment/content/stream/4000000?abortAfter=1000000')
  t.equal(cut.status, 200, 'headers had already gone out')
  t.equal(cut.contentLength, 4_000_000, 'with Atlassian\'s Content-Length')
  t.ok(cut.broken, 'the caller\'s read fails')
  t.ok(cut.bytes < 4_000_000, `only ${cut.bytes} bytes arrived`)
  await assertRecovers(t, h)
  t.ok(await eventually(() => h.fake.openSockets <= 2), 'no upstream socket is left behind')
})

t.test('gateway hangs before the headers: 504 BROKER_ERR_UPSTREAM_TIMEOUT after timeouts.headersMs', async (t) => {
  const h = await harness(t)
  t.equal((await call(h)).status, 200, 'warm')
  h.fake.setNextResponses((r) => r.endpoint === 'gateway', [{ status: 200, body: { late: true }, delayMs: 5_000 }])
  const hung = await call(h, '/rest/api/3/search/jql')
  t.equal(hung.status, 504)
  t.equal(hung.code, 'BROKER_ERR_UPSTREAM_TIMEOUT')
  await assertRecovers(t, h)
})

t.test('gateway stalls mid-body: the caller\'s connection is closed after timeouts.bodyMs, not held open', async (t) => {
  const h = await harness(t)
  const stalled = await download(h, '/rest/api/3/attachment/content/stream/4000000?stallAfter=500000')
  t.equal(stalled.status, 200)
  t.ok(stalled.broken, 'the caller\'s read fails')
  t.ok(stalled.bytes < 4_000_000)
  await assertRecovers(t, h)
  t.ok(await eventually(() => h.fake.openSockets <= 2), 'the stalled upstream socket was destroyed')
})

t.test('gateway unreachable (connect hangs): 504 after timeouts.connectMs', async (t) => {
  const blackhole = await startBlackhole()
  t.teardown(() => blackhole.close())
  const h = await harness(t, blackhole.url)
  const result = await call(h)
  t.equal(result.status, 504)
  t.equal(result.code, 'BROKER_ERR_UPSTREAM_TIMEOUT')
  t.match(h.logs.join('\n'), /Connect Timeout/, 'the log says which phase timed out')
})

t.test('gateway refuses connections: 502 at once', async (t) => {
  const gone = await FakeAtlassian.start({ t })
  const url = gone.url
  await gone.close()
  const h = await harness(t, url)
  const result = await call(h)
  t.equal(result.status, 502)
  t.equal(result.code, 'BROKER_ERR_UPSTREAM_UNAVAILABLE')
})

t.test('502 and 503, with and without Retry-After: passed to the caller as Atlassian sent them (retry is off by default)', async (t) => {
  const h = await harness(t)
  const answers = [
    { response: serviceUnavailable(30), status: 503, retryAfter: '30' },
    { response: serviceUnavailable(), status: 503, retryAfter: undefined },
    { response: { status: 502, headers: { 'retry-after': '5' }, body: 'Bad Gateway' }, status: 502, retryAfter: '5' },
    { response: { status: 502, body: 'Bad Gateway' }, status: 502, retryAfter: undefined }
  ]
  for (const answer of answers) {
    h.fake.setNextResponses((r) => r.endpoint === 'gateway', [answer.response])
    const before = gatewayRequests(h)
    const result = await call(h, '/rest/api/3/issue/OPS-1')
    const label = `${answer.status} ${answer.retryAfter === undefined ? 'without' : 'with'} Retry-After`
    t.equal(result.status, answer.status, `${label}: status`)
    t.equal(result.retryAfter, answer.retryAfter, `${label}: Retry-After as sent`)
    t.equal(result.code, undefined, `${label}: Atlassian's body, not a broker problem`)
    t.type(result.headers['x-request-id'], 'string', `${label}: the broker's request id is added`)
    t.equal(gatewayRequests(h) - before, 1, `${label}: sent once`)
  }
  await assertRecovers(t, h)
})
