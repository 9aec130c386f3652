/**
 * Request smuggling and header injection (docs/security.md, "Attack catalogue"): every ambiguous framing is refused
 * with 400 and a closed connection before anything is forwarded, a request hidden behind it never runs, and no
 * caller-controlled byte ends up as a header line of its own, upstream or back to the caller.
 */
import t from 'tap'
import { JIRA_CLOUD_ID, WIKI_CLOUD_ID, startHarness, type Harness } from '../helpers/broker-harness.js'
import { call, eventually, problemCode } from '../helpers/calls.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'
import { head, rawHttp } from '../helpers/raw-http.js'

const SINK = '/proxy/jira-main/rest/api/3/attachments/sink'
/** A complete second request hidden in the body of the first: it must never reach Atlassian. */
const SMUGGLED = 'GET /proxy/jira-main/rest/api/3/smuggled HTTP/1.1\r\nHost: broker\r\n\r\n'

function shapes (jwt: string): Array<[string, string]> {
  const auth = `Authorization: Bearer ${jwt}`
  const post = (lines: string[], body: string): string => head(`POST ${SINK} HTTP/1.1`, ['Host: broker', auth, ...lines]) + body
  return [
    ['CL.TE: Content-Length and Transfer-Encoding', post([`Content-Length: ${5 + SMUGGLED.length}`, 'Transfer-Encoding: chunked'], `0\r\n\r\n${SMUGGLED}`)],
    ['TE.CL: Transfer-Encoding and Content-Length', post(['Transfer-Encoding: chunked', 'Content-Length: 4'], `5c\r\n${SMUGGLED}\r\n0\r\n\r\n`)],
    ['duplicated Content-Length, different values', post(['Content-Length: 5', `Content-Length: ${5 + SMUGGLED.length}`], `hello${SMUGGLED}`)],
    ['duplicated Content-Length, same value', post(['Content-Length: 5', 'Content-Length: 5'], 'hello')],
    ['Content-Length list', post(['Content-Length: 5, 5'], 'hello')],
    ['Content-Length with a sign', post(['Content-Length: +5'], 'hello')],
    ['obs-fold in Transfer-Encoding', post(['Transfer-Encoding:', ' chunked', 'Content-Length: 5'], 'hello')],
    ['obs-fold in another header', post(['X-Note: first', ' continued', 'Content-Length: 5'], 'hello')],
    ['space before the colon', post(['Transfer-Encoding : chunked', 'Content-Length: 5'], 'hello')],
    ['Transfer-Encoding not ending in chunked', post(['Transfer-Encoding: chunked, identity'], `0\r\n\r\n${SMUGGLED}`)],
    ['unknown Transfer-Encoding', post(['Transfer-Encoding: xchunked'], `0\r\n\r\n${SMUGGLED}`)],
    ['Transfer-Encoding twice', post(['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'], `0\r\n\r\n${SMUGGLED}`)],
    ['invalid chunk size', post(['Transfer-Encoding: chunked'], `5x\r\nhello\r\n0\r\n\r\n${SMUGGLED}`)],
    ['chunk size overflow', post(['Transfer-Encoding: chunked'], `fffffffffffffffff\r\nhello\r\n0\r\n\r\n${SMUGGLED}`)],
    ['bare LF in the chunked body', post(['Transfer-Encoding: chunked'], `5\nhello\n0\n\n${SMUGGLED}`)],
    ['bare LF between headers', `POST ${SINK} HTTP/1.1\r\nHost: broker\r\n${auth}\nContent-Length: 5\r\n\r\nhello`],
    ['bare CR in a header value', post(['X-Note: a\rContent-Length: 999', 'Content-Length: 5'], 'hello')],
    ['LF in a header value', `POST ${SINK} HTTP/1.1\r\nHost: broker\r\n${auth}\r\nX-Note: a\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello`],
    ['NUL in a header value', post(['X-Note: a\u0000b', 'Content-Length: 5'], 'hello')]
  ]
}

const smuggledRan = (h: Harness): boolean => h.fake.requests.some((r) => r.path.includes('smuggled'))

t.test('smuggling shapes and header injection: 400, connection closed, nothing forwarded', async (t) => {
  const h = await startHarness(t, { config: { policy: [{ caller: 'report-job', integration: 'jira-main', methods: ['GET', 'POST'], paths: ['/rest/api/3/**'] }] } })
  t.equal((await call(h)).status, 200, 'warm: a token is cached, so a forward would be immediate')
  const forwardedBefore = h.fake.requests.length
  for (const [name, bytes] of shapes(h.callerToken('report-job'))) {
    const response = await rawHttp(h.url, bytes)
    t.equal(response.status, 400, `${name}: 400`)
    t.match(JSON.parse(response.body), { statusCode: 400, code: 'BROKER_ERR_BAD_REQUEST', error: 'Bad Request', message: /malformed HTTP request \(HPE_[A-Z_]+\)/, requestId: String }, `${name}: problem body`)
    t.equal(response.headers.connection, 'close', `${name}: connection closed`)
  }
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(h.fake.requests.length, forwardedBefore, 'nothing was forwarded, the hidden request included')
  t.notOk(smuggledRan(h))
  const logs = h.logs.join('\n')
  t.match(logs, /malformed request refused by the HTTP parser/, 'each refusal is logged')
  t.notOk(logs.includes(h.callerToken('report-job').split('.')[2] ?? '-'), 'without the raw bytes (the caller JWT among them)')
})

t.test('a valid pipelined request after an allowed one is authenticated and checked on its own', async (t) => {
  const h = await startHarness(t)
  const jwt = h.callerToken('report-job')
  const allowed = `GET /proxy/jira-main/rest/api/3/myself HTTP/1.1\r\nHost: broker\r\nAuthorization: Bearer ${jwt}\r\n\r\n`
  const denied = `DELETE /proxy/jira-main/rest/api/3/issue/OPS-1 HTTP/1.1\r\nHost: broker\r\nAuthorization: Bearer ${jwt}\r\n\r\n`
  const anonymous = 'GET /proxy/jira-main/rest/api/3/smuggled HTTP/1.1\r\nHost: broker\r\nConnection: close\r\n\r\n'
  const response = await rawHttp(h.url, allowed + denied + anonymous, { waitMs: 2_000 })
  const statuses = [...response.raw.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((match) => Number(match[1]))
  t.same(statuses, [200, 403, 401], 'each pipelined request got its own answer')
  t.equal(h.fake.requests.filter((r) => r.endpoint === 'gateway').length, 1)
  t.notOk(smuggledRan(h))
})

t.test('framing upstream is the broker\'s own: one Authorization, one length header', async (t) => {
  const h = await startHarness(t)
  const jwt = h.callerToken('report-job')
  // Two Authorization headers are refused outright (issue 16; test/callers/time-claims.test.ts has the cases).
  const doubled = await rawHttp(h.url, head('POST /proxy/jira-main/rest/api/3/echo HTTP/1.1',
    ['Host: broker', `Authorization: Bearer ${jwt}`, 'Authorization: Bearer attacker-chosen', 'Content-Length: 2', 'Connection: close']) + '{}')
  t.equal(doubled.status, 400)
  const single = await rawHttp(h.url, head('POST /proxy/jira-main/rest/api/3/echo HTTP/1.1',
    ['Host: broker', `Authorization: Bearer ${jwt}`, 'Content-Length: 2', 'Connection: close']) + '{}')
  t.equal(single.status, 200)
  const chunked = await rawHttp(h.url, head('POST /proxy/jira-main/rest/api/3/echo HTTP/1.1',
    ['Host: broker', `Authorization: Bearer ${jwt}`, 'Transfer-Encoding: chunked', 'Connection: close']) + `${(200_000).toString(16)}\r\n${'x'.repeat(200_000)}\r\n0\r\n\r\n`)
  t.equal(chunked.status, 200)
  const [first, second] = h.fake.requests.filter((r) => r.endpoint === 'gateway')
  const names = (raw: string[] | undefined): string[] =>
    (raw ?? []).filter((_, index) => index % 2 === 0).map((name) => name.toLowerCase())
  t.equal(names(first?.rawHeaders).filter((name) => name === 'authorization').length, 1, 'exactly one Authorization upstream')
  t.notOk(String(first?.headers.authorization).includes('attacker-chosen'), 'and it is the broker\'s')
  t.same(names(first?.rawHeaders).filter((name) => name === 'content-length' || name === 'transfer-encoding'), ['content-length'])
  t.same(names(second?.rawHeaders).filter((name) => name === 'content-length' || name === 'transfer-encoding'), ['transfer-encoding'])
  t.equal(second?.bodyBytes, 200_000)
})

t.test('caller-controlled text never becomes a header line', async (t) => {
  const h = await startHarness(t)
  const injected = h.callerToken('report-job\r\nSet-Cookie: pwned=1\r\nX-Injected: 1')
  const denied = await call(h, '/rest/api/3/myself', { headers: { authorization: `Bearer ${injected}`, 'x-request-id': 'abc<script>' } })
  t.equal(denied.status, 403, 'a caller id with CR/LF is just an unknown caller')
  t.equal(denied.headers['set-cookie'], undefined)
  t.equal(denied.headers['x-injected'], undefined)
  t.match(denied.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'an unusable X-Request-Id is replaced, not echoed')
  const encoded = await rawHttp(h.url, head('GET /nowhere%0d%0aSet-Cookie:%20pwned=1 HTTP/1.1', ['Host: broker', 'Connection: close']))
  t.equal(encoded.status, 404)
  t.equal(encoded.headers['set-cookie'], undefined, 'an encoded CRLF in the target stays in the JSON body')
  const upstream = await call(h, '/rest/api/3/search/jql?jql=a%0d%0aX-Injected:%201')
  t.equal(upstream.status, 200)
  t.equal(h.fake.requests.find((r) => r.endpoint === 'gateway')?.headers['x-injected'], undefined, 'nor upstream')
})

t.test('regression: an allowed upload with a Transfer-Encoding the parser refuses after the headers crashed the broker', async (t) => {
  // The parser hands over the headers, then fails on the body: the request was already waiting for its token with the
  // body guard in place, and the guard's 'error' had no listener.
  const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }, { product: 'confluence', cloudId: WIKI_CLOUD_ID }], slowTokenDelayMs: 400 })
  const h = await startHarness(t, { fake })
  h.fake.tokenEndpointMode = 'slow'
  const response = await rawHttp(h.url, head(`PUT ${SINK} HTTP/1.1`, ['Host: broker', `Authorization: Bearer ${h.callerToken('report-job')}`, 'Transfer-Encoding: xchunked']) + 'x'.repeat(70_000))
  t.equal(response.status, 400)
  t.equal(problemCode(response.body), 'BROKER_ERR_BAD_REQUEST')
  t.ok(await eventually(() => h.logs.some((line) => line.includes('caller closed the connection before the answer'))))
  h.fake.tokenEndpointMode = 'ok'
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal((await call(h)).status, 200, 'still serving')
})
