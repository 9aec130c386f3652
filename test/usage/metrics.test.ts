/** /metrics after a scripted workload: exact counts per caller, integration, method and status class. */
import t from 'tap'
import { request } from 'undici'
import { startHarness, type Harness } from '../helpers/broker-harness.js'
import { parseSamples, sampleSum, sampleValue } from '../helpers/prometheus-text.js'

const POLICY = [
  { caller: 'report-job', integration: 'jira-main', methods: ['GET', 'POST'], paths: ['/rest/api/3/**'] },
  { caller: 'report-job', integration: 'wiki-main', methods: ['GET'], paths: ['/wiki/**'] },
  { caller: 'sync-job', integration: 'jira-main', methods: ['GET'], paths: ['/rest/api/3/**'] },
  { caller: 'batch-*', integration: 'jira-main', methods: ['GET'], paths: ['/rest/api/3/**'] }
]

interface Answer { status: number, bytes: number }

async function call (
  h: Harness,
  caller: string | undefined,
  method: string,
  target: string,
  body?: string
): Promise<Answer> {
  const headers: Record<string, string> =
    caller === undefined ? {} : { authorization: `Bearer ${h.callerToken(caller)}` }
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await request(`${h.url}${target}`, {
    method: method as 'GET',
    headers,
    ...(body === undefined ? {} : { body })
  })
  const received = Buffer.from(await res.body.arrayBuffer())
  return { status: res.statusCode, bytes: received.length }
}

t.test('a scripted workload shows up in /metrics with exact counts', async (t) => {
  const h = await startHarness(t, { config: { policy: POLICY } })
  const issue = JSON.stringify({ fields: { project: { key: 'OPS' }, summary: 'from the metrics test', issuetype: { name: 'Task' } } })
  const upstreamBytes: Record<string, number> = { 'report-job': 0, 'sync-job': 0, other: 0 }
  const expect = async (
    caller: string | undefined,
    method: string,
    target: string,
    status: number,
    label?: string,
    body?: string
  ): Promise<void> => {
    const answer = await call(h, caller, method, target, body)
    t.equal(answer.status, status, `${caller ?? 'anonymous'} ${method} ${target}`)
    if (label !== undefined) upstreamBytes[label] = (upstreamBytes[label] ?? 0) + answer.bytes
  }

  for (let i = 0; i < 3; i++) await expect('report-job', 'GET', '/proxy/jira-main/rest/api/3/myself', 200, 'report-job')
  await expect('report-job', 'POST', '/proxy/jira-main/rest/api/3/issue', 201, 'report-job', issue)
  await expect('report-job', 'GET', '/proxy/wiki-main/wiki/rest/api/user/current', 200, 'report-job')
  await expect('report-job', 'DELETE', '/proxy/jira-main/rest/api/3/issue/1', 403)
  for (let i = 0; i < 2; i++) await expect('sync-job', 'GET', '/proxy/jira-main/rest/api/3/myself', 200, 'sync-job')
  await expect('sync-job', 'GET', '/proxy/wiki-main/wiki/rest/api/user/current', 403)
  await expect('batch-7', 'GET', '/proxy/jira-main/rest/api/3/myself', 200, 'other')
  await expect(undefined, 'GET', '/proxy/jira-main/rest/api/3/myself', 401)
  await expect('report-job', 'GET', '/proxy/no-such-integration/rest/api/3/myself', 404)

  const res = await request(`${h.url}/metrics`)
  t.equal(res.statusCode, 200)
  t.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/)
  const samples = parseSamples(await res.body.text())
  const requests = samples.filter((sample) => sample.name === 'atlassian_broker_requests_total')
  t.same(
    requests
      .map((sample) => ({ ...sample.labels, value: sample.value }))
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    [
      { caller: 'other', integration: 'jira-main', method: 'GET', status_class: '2xx', value: 1 },
      { caller: 'report-job', integration: 'jira-main', method: 'DELETE', status_class: '4xx', value: 1 },
      { caller: 'report-job', integration: 'jira-main', method: 'GET', status_class: '2xx', value: 3 },
      { caller: 'report-job', integration: 'jira-main', method: 'POST', status_class: '2xx', value: 1 },
      { caller: 'report-job', integration: 'unknown', method: 'GET', status_class: '4xx', value: 1 },
      { caller: 'report-job', integration: 'wiki-main', method: 'GET', status_class: '2xx', value: 1 },
      { caller: 'sync-job', integration: 'jira-main', method: 'GET', status_class: '2xx', value: 2 },
      { caller: 'sync-job', integration: 'wiki-main', method: 'GET', status_class: '4xx', value: 1 },
      { caller: 'unauthenticated', integration: 'jira-main', method: 'GET', status_class: '4xx', value: 1 }
    ].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))
  )

  t.equal(sampleValue(samples, 'atlassian_broker_request_duration_seconds_count', { caller: 'report-job', integration: 'jira-main' }), 5)
  t.equal(sampleValue(samples, 'atlassian_broker_request_duration_seconds_count', { caller: 'sync-job', integration: 'jira-main' }), 2)
  t.equal(sampleValue(samples, 'atlassian_broker_upstream_duration_seconds_count', { integration: 'jira-main' }), 7, 'only forwarded calls')
  t.equal(sampleValue(samples, 'atlassian_broker_upstream_duration_seconds_count', { integration: 'wiki-main' }), 1)

  t.equal(sampleValue(samples, 'atlassian_broker_token_exchanges_total', { integration: 'jira-main', result: 'ok' }), 1)
  t.equal(sampleValue(samples, 'atlassian_broker_token_exchanges_total', { integration: 'wiki-main', result: 'ok' }), 1)
  t.equal(sampleValue(samples, 'atlassian_broker_token_exchanges_total', { integration: 'jira-main', result: 'rejected' }), 0, 'failure series exist from the start')
  t.equal(h.fake.exchanges, 2)
  t.equal(sampleValue(samples, 'atlassian_broker_token_cache_lookups_total', { integration: 'jira-main', result: 'miss' }), 1)
  t.equal(sampleValue(samples, 'atlassian_broker_token_cache_lookups_total', { integration: 'jira-main', result: 'hit' }), 6)
  t.equal(sampleValue(samples, 'atlassian_broker_token_cache_lookups_total', { integration: 'wiki-main', result: 'miss' }), 1)

  t.equal(sampleValue(samples, 'atlassian_broker_request_bytes_total', { caller: 'report-job', integration: 'jira-main' }), Buffer.byteLength(issue))
  t.equal(sampleSum(samples, 'atlassian_broker_request_bytes_total', { caller: 'sync-job' }), 0)
  for (const caller of ['report-job', 'sync-job', 'other']) {
    t.equal(sampleSum(samples, 'atlassian_broker_response_bytes_total', { caller }), upstreamBytes[caller], `response bytes of ${caller}`)
  }
  t.equal(sampleValue(samples, 'atlassian_broker_secret_store_errors_total', { store: 'file' }), 0)
  t.equal(sampleSum(samples, 'atlassian_broker_upstream_rate_limited_total'), 0)
})

t.test('metrics can be moved or turned off', async (t) => {
  const moved = await startHarness(t, { config: { metrics: { path: '/internal/metrics' } } })
  t.equal((await request(`${moved.url}/internal/metrics`)).statusCode, 200)
  t.equal((await request(`${moved.url}/metrics`)).statusCode, 404)
  const off = await startHarness(t, { config: { metrics: { enabled: false } } })
  t.equal((await request(`${off.url}/metrics`)).statusCode, 404)
})

t.test('two brokers in one process keep separate counts (a registry per broker)', async (t) => {
  const a = await startHarness(t)
  const b = await startHarness(t)
  await call(a, 'report-job', 'GET', '/proxy/jira-main/rest/api/3/myself')
  const count = async (h: Harness): Promise<number> => sampleSum(parseSamples(await (await request(`${h.url}/metrics`)).body.text()), 'atlassian_broker_requests_total')
  t.equal(await count(a), 1)
  t.equal(await count(b), 0)
})
