/**
 * Size limits come from config and are enforced before anything is forwarded (docs/security.md, "Attack catalogue"):
 * headers past `limits.headerBytes` -> 431, bodies past `limits.bodyBytes` -> 413 (declared or streamed), caller tokens
 * past `callers.jwt.maxTokenBytes` -> 401.
 */
import { Readable } from 'node:stream'
import t from 'tap'
import { CALLER_SECRET, startHarness } from '../helpers/broker-harness.js'
import { call, gatewayRequests, problemCode } from '../helpers/calls.js'
import { head, rawHttp } from '../helpers/raw-http.js'

const LIMITS = { headerBytes: 4_096, bodyBytes: 65_536 }

t.test('headers: 431 past limits.headerBytes, one header or many', async (t) => {
  const h = await startHarness(t, { config: { limits: LIMITS } })
  const jwt = h.callerToken('report-job')
  const under = await rawHttp(h.url, head('GET /proxy/jira-main/rest/api/3/myself HTTP/1.1', ['Host: broker', `Authorization: Bearer ${jwt}`, `X-Pad: ${'p'.repeat(2_500)}`, 'Connection: close']))
  t.equal(under.status, 200, 'under the limit: served')
  for (const [name, lines] of [
    ['one big header', [`X-Pad: ${'p'.repeat(5_000)}`]],
    ['many small headers', Array.from({ length: 200 }, (_, index) => `X-Pad-${index}: ${'p'.repeat(20)}`)]
  ] as const) {
    const over = await rawHttp(h.url, head('GET /proxy/jira-main/rest/api/3/myself HTTP/1.1', ['Host: broker', `Authorization: Bearer ${jwt}`, ...lines]))
    t.equal(over.status, 431, `${name}: 431`)
    t.equal(problemCode(over.body), 'BROKER_ERR_HEADERS_TOO_LARGE')
    t.equal(over.headers.connection, 'close')
  }
  t.equal(gatewayRequests(h), 1, 'only the request under the limit was forwarded')
})

t.test('regression: parser refusals (400, 431) were answered with Fastify\'s own body, without a BROKER_ERR code', async (t) => {
  const h = await startHarness(t, { config: { limits: LIMITS } })
  const oversized = await rawHttp(h.url, head('GET /healthz HTTP/1.1', ['Host: broker', `X-Pad: ${'p'.repeat(5_000)}`]))
  const malformed = await rawHttp(h.url, head('GET /healthz HTTP/1.1', ['Host: broker', 'Content-Length: 1', 'Content-Length: 2']))
  for (const response of [oversized, malformed]) {
    const body = JSON.parse(response.body) as Record<string, unknown>
    t.same(Object.keys(body).sort(), ['code', 'error', 'errorMessages', 'errors', 'message', 'requestId', 'statusCode'], 'the documented Problem shape')
    t.equal(response.headers['x-request-id'], body.requestId, 'with the request id in the header too')
  }
  t.match(JSON.parse(oversized.body), { statusCode: 431, code: 'BROKER_ERR_HEADERS_TOO_LARGE', error: 'Request Header Fields Too Large' })
  t.match(JSON.parse(malformed.body), { statusCode: 400, code: 'BROKER_ERR_BAD_REQUEST', message: /HPE_UNEXPECTED_CONTENT_LENGTH/ })
})

t.test('bodies: 413 past limits.bodyBytes, whether declared or streamed; exactly at the limit passes', async (t) => {
  const h = await startHarness(t, { config: { limits: LIMITS } })
  const put = (body: Buffer | Readable, headers: Record<string, string> = {}): ReturnType<typeof call> =>
    call(h, '/rest/api/3/attachments/sink', { method: 'PUT', body: body as Buffer, headers: { 'content-type': 'application/octet-stream', ...headers } })

  const exact = await put(Buffer.alloc(LIMITS.bodyBytes, 1))
  t.equal(exact.status, 200, 'exactly bodyBytes: forwarded')
  const before = gatewayRequests(h)
  const declared = await put(Buffer.alloc(LIMITS.bodyBytes + 1, 1))
  t.equal(declared.status, 413)
  t.equal(declared.code, 'BROKER_ERR_BODY_TOO_LARGE')
  t.match(declared.body, /configured limit of 65536 bytes/, 'the message names the configured limit')
  t.equal(gatewayRequests(h), before, 'a declared oversize body is refused before anything goes upstream')

  const chunk = Buffer.alloc(16_384, 2)
  const streamed = await put(Readable.from((function * () { for (let index = 0; index < 40; index++) yield chunk })()))
  t.equal(streamed.status, 413, 'a chunked body is cut off at the limit')
  t.equal(streamed.code, 'BROKER_ERR_BODY_TOO_LARGE')
  const cut = h.fake.requests.filter((r) => r.endpoint === 'gateway').at(-1)
  t.equal(cut?.status, undefined, 'the upstream request it had started was aborted, never completed')
  t.ok((cut?.bodyBytes ?? 0) <= LIMITS.bodyBytes, `at most the limit reached Atlassian (${cut?.bodyBytes ?? 0} bytes)`)
  t.equal((await call(h)).status, 200, 'the broker keeps serving')
})

t.test('regression: a streamed upload cut off at the body limit held its connection open, and the broker\'s graceful close with it', async (t) => {
  const h = await startHarness(t, { config: { limits: LIMITS } })
  const chunk = Buffer.alloc(16_384, 2)
  const streamed = await call(h, '/rest/api/3/attachments/sink', {
    method: 'PUT', body: Readable.from((function * () { for (let index = 0; index < 400; index++) yield chunk })()) as unknown as Buffer
  })
  t.equal(streamed.status, 413)
  t.equal(streamed.headers.connection, 'close', 'the answer ends the connection: the rest of the body is not waited for')
  const closed = await Promise.race([h.broker.close().then(() => 'closed'), new Promise((resolve) => setTimeout(() => resolve('still open after 3 s'), 3_000))])
  t.equal(closed, 'closed', 'the broker closes without waiting on the abandoned upload')
})

t.test('caller tokens: 401 past callers.jwt.maxTokenBytes, before any signature work', async (t) => {
  const h = await startHarness(t, { config: { callers: { jwt: { audience: 'atlassian-broker', hs256Secret: CALLER_SECRET, maxTokenBytes: 1_024 } } } })
  const big = h.callerToken('report-job', { padding: 'x'.repeat(1_200) })
  const refused = await call(h, '/rest/api/3/myself', { headers: { authorization: `Bearer ${big}` } })
  t.equal(refused.status, 401)
  t.equal(refused.code, 'BROKER_ERR_CALLER_UNAUTHENTICATED')
  t.match(refused.body, /token too large/)
  t.equal(h.fake.requests.length, 0)
})
