/**
 * The access log's line for a request that is not a proxied call (the ops page, admin routes, an unknown route): one
 * line of scalar fields, built by the logger's one line builder like the proxied call's (src/http/call-record.ts),
 * never carrying the caller's JWT; the probes and the metrics path stay quiet.
 */
import t from 'tap'
import { startHarness } from '../helpers/broker-harness.js'

t.test('a non-proxied request gets one "request" line with its id, method, route, status and duration', async (t) => {
  const h = await startHarness(t, { empty: true })
  const token = h.callerToken('report-job')
  const answer = await fetch(`${h.url}/admin/usage`, { headers: { authorization: `Bearer ${token}` } })
  const requestId = answer.headers.get('x-request-id')
  await answer.arrayBuffer()
  await (await fetch(`${h.url}/healthz`)).arrayBuffer()

  const lines = h.logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === 'request')
  t.equal(lines.length, 1, 'one line, and none for /healthz')
  t.match(lines[0], { level: 'info', reqId: requestId, method: 'GET', route: '/admin/usage', status: answer.status, durationMs: Number })
  t.match(lines[0]?.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'an ISO time')
  t.notMatch(h.logs.join('\n'), token, 'the caller\'s JWT is in no line')
})
