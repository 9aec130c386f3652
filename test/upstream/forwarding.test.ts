/** Forwarding: header hygiene, Atlassian's headers back to the caller, 401 replay, 429 passthrough, streaming. */
import { createHash } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { Readable } from 'node:stream'
import t from 'tap'
import { request } from 'undici'
import { CLIENT_ID, startHarness } from '../helpers/broker-harness.js'
import { rateLimited, streamSha256 } from '../helpers/fake-atlassian.js'

t.test('request headers: only the allow-list passes; hop-by-hop, cookies, credentials, routing and override headers stay behind', async (t) => {
  const h = await startHarness(t)
  // node:http, because undici's client manages the Connection header itself
  const statusCode = await new Promise<number>((resolve, reject) => {
    const outgoing = httpRequest(`${h.url}/proxy/jira-main/rest/api/3/echo`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${h.callerToken('report-job')}`,
        'content-type': 'application/json',
        accept: 'application/json',
        'x-atlassian-token': 'no-check',
        'x-custom': 'not on the list',
        'if-none-match': '"v1"',
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        'x-http-method-override': 'DELETE',
        'x-method-override': 'DELETE',
        'x-original-url': '/rest/api/3/user',
        'x-rewrite-url': '/rest/api/3/user',
        'x-forwarded-prefix': '/admin',
        'x-forwarded-server': 'evil.example',
        'x-client-ip': '10.0.0.1',
        'true-client-ip': '10.0.0.1',
        via: '1.1 evil',
        connection: 'keep-alive, x-secret-hop',
        'x-secret-hop': 'must-not-pass',
        'proxy-authorization': 'Basic Zm9vOmJhcg==',
        cookie: 'JSESSIONID=abc',
        'x-forwarded-host': 'evil.example',
        forwarded: 'host=evil.example',
        te: 'trailers'
      },
      agent: false
    }, (response) => { response.resume(); response.on('end', () => resolve(response.statusCode ?? 0)) })
    outgoing.on('error', reject)
    outgoing.end(JSON.stringify({ hello: 'world' }))
  })
  t.equal(statusCode, 200)
  const seen = h.fake.requests.find((r) => r.endpoint === 'gateway')?.headers ?? {}
  t.equal(seen['content-type'], 'application/json')
  t.equal(seen.accept, 'application/json')
  t.equal(seen['x-atlassian-token'], 'no-check')
  t.equal(seen['if-none-match'], '"v1"', 'conditional requests pass')
  t.match(seen.traceparent, /^00-0af7/, 'trace context passes')
  const overrides = ['x-http-method-override', 'x-method-override', 'x-original-url', 'x-rewrite-url', 'x-forwarded-prefix', 'x-forwarded-server', 'x-client-ip', 'true-client-ip', 'via']
  for (const dropped of ['x-custom', 'x-secret-hop', 'proxy-authorization', 'cookie', 'x-forwarded-host', 'forwarded', 'te', ...overrides]) {
    t.equal(seen[dropped], undefined, `${dropped} dropped`)
  }
  t.match(seen.authorization, /^Bearer /)
  t.notOk(String(seen.authorization).includes(h.callerToken('report-job').split('.')[1] ?? '-'), 'the caller JWT was replaced')
  t.not(seen.host, new URL(h.url).host, 'Host names the upstream, not the broker')
})

t.test('Atlassian rate-limit headers come back; 429 reaches the caller with Retry-After', async (t) => {
  const h = await startHarness(t)
  h.fake.setNextResponses(/rest\/api\/3\/search\/jql/, [rateLimited({ retryAfterSeconds: 7, reason: 'jira-burst-based' })])
  const response = await request(`${h.url}/proxy/jira-main/rest/api/3/search/jql?jql=x`, { headers: { authorization: `Bearer ${h.callerToken('report-job')}` } })
  await response.body.dump()
  t.equal(response.statusCode, 429)
  t.equal(response.headers['retry-after'], '7')
  t.equal(response.headers['ratelimit-reason'], 'jira-burst-based')
  t.equal(response.headers['x-ratelimit-remaining'], '0')
  t.ok(response.headers['x-ratelimit-reset'])
  t.type(response.headers['x-request-id'], 'string', 'the broker adds its request id')
})

t.test('the broker\'s x-request-id goes out on a proxied answer unless Atlassian sent its own', async (t) => {
  const h = await startHarness(t)
  const auth = { authorization: `Bearer ${h.callerToken('report-job')}` }
  const plain = await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: auth })
  await plain.body.dump()
  t.match(plain.headers['x-request-id'], /\S/, 'the broker\'s own')
  h.fake.setNextResponses(/rest\/api\/3\/myself/, [{ status: 200, headers: { 'content-type': 'application/json', 'x-request-id': 'atl-7f3c' }, body: '{}' }])
  const answered = await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: auth })
  await answered.body.dump()
  t.equal(answered.headers['x-request-id'], 'atl-7f3c', 'Atlassian\'s, once, not both')
})

t.test('upstream 401 (token revoked early): one fresh exchange and one replay', async (t) => {
  const h = await startHarness(t)
  const auth = { authorization: `Bearer ${h.callerToken('report-job')}` }
  const first = await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: auth })
  await first.body.dump()
  h.fake.revokeTokensOf(CLIENT_ID)
  const replayed = await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: auth })
  await replayed.body.dump()
  t.equal(replayed.statusCode, 200, 'GET replayed with a new token')
  t.equal(h.fake.exchanges, 2)

  h.fake.revokeTokensOf(CLIENT_ID)
  const post = await request(`${h.url}/proxy/jira-main/rest/api/3/issue`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ fields: { project: { key: 'OPS' }, summary: 'small body replays', issuetype: { name: 'Task' } } })
  })
  await post.body.dump()
  t.equal(post.statusCode, 201, 'a small buffered body is replayed too')

  h.fake.revokeTokensOf(CLIENT_ID)
  const big = await request(`${h.url}/proxy/jira-main/rest/api/3/attachments/sink`, {
    method: 'PUT',
    headers: { ...auth, 'content-type': 'application/octet-stream', 'content-length': String(1_000_000) },
    body: Buffer.alloc(1_000_000, 1)
  })
  await big.body.dump()
  t.equal(big.statusCode, 401, 'a large streamed body cannot be replayed: the 401 is returned')
  const after = await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: auth })
  await after.body.dump()
  t.equal(after.statusCode, 200, 'but the dead token was dropped for the next call')
})

t.test('bodies stream both ways: 200 MB down and up with flat memory', async (t) => {
  const h = await startHarness(t)
  const auth = { authorization: `Bearer ${h.callerToken('report-job')}` }
  const size = 200 * 1024 * 1024
  const before = process.memoryUsage().rss
  let peak = before
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss) }, 20)
  t.teardown(() => clearInterval(sampler))

  const download = await request(`${h.url}/proxy/jira-main/rest/api/3/attachment/content/stream/${size}`, { headers: auth })
  const hash = createHash('sha256')
  let received = 0
  for await (const chunk of download.body) { hash.update(chunk as Buffer); received += (chunk as Buffer).length }
  t.equal(download.statusCode, 200)
  t.equal(received, size)
  t.equal(hash.digest('hex'), streamSha256(size), 'bytes arrive intact')

  const chunk = Buffer.alloc(1024 * 1024, 7)
  const chunks = size / chunk.length
  const upload = await request(`${h.url}/proxy/jira-main/rest/api/3/attachments/sink`, {
    method: 'PUT',
    headers: { ...auth, 'content-type': 'application/octet-stream' },
    body: Readable.from((function * () { for (let index = 0; index < chunks; index++) yield chunk })())
  })
  const sink = await upload.body.json() as { bytes: number }
  t.equal(upload.statusCode, 200)
  t.equal(sink.bytes, size, 'chunked upload arrived whole')
  clearInterval(sampler)
  // Broker, fake and client share this process. A body held whole in either direction would add at least its 200 MB;
  // streamed, growth is garbage awaiting collection (Node 20: under 120 MB; Node 26's larger young space: up to ~140).
  t.ok(peak - before < 170 * 1024 * 1024, `RSS grew ${Math.round((peak - before) / 1048576)} MB while 400 MB passed`)
})

t.test('body limit: 413 before anything is sent upstream', async (t) => {
  const h = await startHarness(t, { config: { limits: { bodyBytes: 1000 } } })
  const response = await request(`${h.url}/proxy/jira-main/rest/api/3/attachments/sink`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${h.callerToken('report-job')}`, 'content-type': 'application/octet-stream' },
    body: Buffer.alloc(5000)
  })
  const body = await response.body.json() as Record<string, string>
  t.equal(response.statusCode, 413)
  t.equal(body.code, 'BROKER_ERR_BODY_TOO_LARGE')
  t.equal(h.fake.requests.filter((r) => r.endpoint === 'gateway').length, 0)
})
