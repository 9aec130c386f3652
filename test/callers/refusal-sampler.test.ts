/** Unauthenticated refusals are sampled in the log (issue 16, item 6): a 401 flood cannot grow the log without bound.
 * */
import t from 'tap'
import { request } from 'undici'
import { RefusalSampler } from '../../src/callers/refusal-sampler.js'
import { createLogger } from '../../src/logger.js'
import { memoryLogStream, startHarness } from '../helpers/broker-harness.js'
import { head, rawHttp } from '../helpers/raw-http.js'

t.test('the first perMinute refusals of each minute are logged; the rest are counted and reported once', async (t) => {
  const lines: string[] = []
  let now = 1_000_000
  const sampler = new RefusalSampler({ perMinute: 3, logger: createLogger({ level: 'info', destination: memoryLogStream(lines) }), now: () => now })
  const first = Array.from({ length: 10 }, () => sampler.admit())
  t.same(first, [true, true, true, false, false, false, false, false, false, false])
  t.equal(lines.length, 0, 'nothing reported within the minute')
  now += 59_999
  t.equal(sampler.admit(), false, 'still the same minute')
  now += 1
  t.equal(sampler.admit(), true, 'a new minute logs again')
  t.equal(lines.length, 1, 'and reports what was left out')
  t.match(JSON.parse(lines[0] ?? '{}'), { level: 'warn', suppressed: 8, perMinute: 3 })
  now += 60_000
  sampler.admit()
  t.equal(lines.length, 1, 'nothing was left out in the last minute: no report')
})

t.test('over the wire: 40 bad tokens and 9 other refusals, 5 log lines; every refusal is still answered and counted', async (t) => {
  const h = await startHarness(t, { config: { logging: { level: 'info', refusalsPerMinute: 5 } } })
  for (let index = 0; index < 40; index++) {
    const response = await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: { authorization: `Bearer bad-${index}` } })
    await response.body.dump()
    t.equal(response.statusCode, 401)
  }
  for (let index = 0; index < 3; index++) {
    const refused = await rawHttp(h.url, head('GET /healthz HTTP/1.1', ['Host: broker', 'Content-Length: 1', 'Content-Length: 2']))
    t.equal(refused.status, 400, 'parser refusals are answered as before')
    const unrouted = await rawHttp(h.url, head('GET /proxy/%C0%AE HTTP/1.1', ['Host: broker', 'Connection: close']))
    t.equal(unrouted.status, 400, 'so are targets the router cannot decode')
    const madeUp = await request(`${h.url}/made-up-${index}`)
    await madeUp.body.dump()
    t.equal(madeUp.statusCode, 404, 'and made-up routes')
  }
  const refusalLines = h.logs.filter((line) => /"status":(401|404)|refused by the HTTP parser|refused by the router/.test(line))
  t.equal(refusalLines.length, 5, 'five refusal lines logged')
  const metrics = await (await request(`${h.url}/metrics`)).body.text()
  t.match(metrics, /atlassian_broker_requests_total\{[^}]*status_class="4xx"[^}]*\} 40/, 'metrics count all 40')
  const ok = await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: { authorization: `Bearer ${h.callerToken('report-job')}` } })
  await ok.body.dump()
  t.ok(h.logs.some((line) => line.includes('"status":200')), 'authenticated calls are always logged')
})
