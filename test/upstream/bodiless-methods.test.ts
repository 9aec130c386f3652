/**
 * Issue 24 §6: a GET carrying a body was forwarded with its Content-Length. Content in a GET or HEAD has no defined
 * semantics (RFC 9110 sections 9.3.1, 9.3.2), so the broker refuses it with 400 BROKER_ERR_BAD_REQUEST and nothing goes
 * upstream; a DELETE body (Jira's bulk delete of worklogs) still passes.
 */
import { request as httpRequest } from 'node:http'
import t from 'tap'
import { startHarness, type Harness } from '../helpers/broker-harness.js'

const POLICY = [{ caller: 'report-job', integration: 'jira-main', methods: ['GET', 'HEAD', 'DELETE'], paths: ['/rest/api/3/**'] }]

/** node:http, which sends a GET body as given (undici and fetch refuse to): with its length, or chunked when the body
 *  comes as several `chunks`. */
function send (
  h: Harness,
  method: string,
  path: string,
  options: { body?: string, chunks?: string[], headers?: Record<string, string> } = {}
): Promise<{ status: number, body: string }> {
  const framing = options.chunks !== undefined
    ? { 'transfer-encoding': 'chunked' }
    : options.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(options.body)) }
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(`${h.url}/proxy/jira-main${path}`, {
      method,
      headers: { authorization: `Bearer ${h.callerToken('report-job')}`, ...framing, ...options.headers },
      agent: false
    }, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
    })
    outgoing.on('error', reject)
    for (const chunk of options.chunks ?? []) outgoing.write(chunk)
    outgoing.end(options.body)
  })
}

const gatewayCalls = (h: Harness): number => h.fake.requests.filter((r) => r.endpoint === 'gateway').length

t.test('a GET or HEAD with a body is refused with 400 and a stable code; nothing reaches Atlassian', async (t) => {
  const h = await startHarness(t, { config: { policy: POLICY } })
  const json = { 'content-type': 'application/json' }
  const withLength = await send(h, 'GET', '/rest/api/3/search/jql', { body: '{"jql":"project = OPS"}', headers: json })
  t.equal(withLength.status, 400)
  const problem = JSON.parse(withLength.body) as { code: string, message: string }
  t.equal(problem.code, 'BROKER_ERR_BAD_REQUEST')
  t.match(problem.message, /GET request carries no body.*query string/)

  const chunked = await send(h, 'GET', '/rest/api/3/search/jql', { chunks: ['{"jql":', '"x"}'], headers: json })
  t.equal(chunked.status, 400, 'a chunked body too')
  t.equal(JSON.parse(chunked.body).code, 'BROKER_ERR_BAD_REQUEST')

  t.equal((await send(h, 'HEAD', '/rest/api/3/myself', { body: 'x' })).status, 400, 'HEAD as GET')
  t.equal(gatewayCalls(h), 0, 'the upstream saw none of them')
  t.equal(h.fake.exchanges, 0, 'not even a token was fetched')
})

t.test('a GET with Content-Length: 0 or no body goes upstream without a body or Content-Length', async (t) => {
  const h = await startHarness(t, { config: { policy: POLICY } })
  const framings: Array<Record<string, string>> = [{ 'content-length': '0' }, {}]
  for (const headers of framings) {
    const answer = await send(h, 'GET', '/rest/api/3/echo', { headers })
    t.equal(answer.status, 200)
    const seen = JSON.parse(answer.body) as { method: string, bodyBytes: number, headers: Record<string, string> }
    t.equal(seen.method, 'GET')
    t.equal(seen.bodyBytes, 0)
    t.equal(seen.headers['content-length'], undefined, 'no Content-Length upstream')
    t.equal(seen.headers['transfer-encoding'], undefined)
  }
})

t.test('a DELETE body still goes upstream (Jira\'s bulk delete of worklogs takes one)', async (t) => {
  const h = await startHarness(t, { config: { policy: POLICY } })
  const body = '{"ids":[1,2]}'
  const answer = await send(h, 'DELETE', '/rest/api/3/echo', { body, headers: { 'content-type': 'application/json' } })
  t.equal(answer.status, 200)
  const seen = JSON.parse(answer.body) as { method: string, bodyBytes: number, headers: Record<string, string> }
  t.equal(seen.method, 'DELETE')
  t.equal(seen.bodyBytes, body.length)
  t.equal(seen.headers['content-length'], String(body.length))
})
