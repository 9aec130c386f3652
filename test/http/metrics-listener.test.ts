/**
 * /metrics off the public listener (issue 16, item 7): `metrics.listen` serves the metrics, /healthz and /readyz on a
 * listener of their own (no /proxy there, none of them on the main one), and `metrics.bearerTokenFile` asks every
 * scrape for a bearer token.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { stringify } from 'yaml'
import { startHarness } from '../helpers/broker-harness.js'
import { cliEnv, startCli, waitForLine } from '../helpers/cli.js'

const get = async (url: string, headers: Record<string, string> = {}): Promise<{ status: number, body: string }> => {
  const response = await request(url, { headers })
  return { status: response.statusCode, body: await response.body.text() }
}

t.test('metrics.listen: metrics, /healthz and /readyz on their own listener; /metrics gone from the main one', async (t) => {
  const h = await startHarness(t, { config: { metrics: { listen: { host: '127.0.0.1', port: 0 } } } })
  const metricsApp = h.broker.metricsApp
  t.ok(metricsApp, 'the broker built a metrics listener')
  const metricsUrl = await metricsApp!.listen({ host: '127.0.0.1', port: 0 })
  const ok = await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: { authorization: `Bearer ${h.callerToken('report-job')}` } })
  await ok.body.dump()
  t.equal(ok.statusCode, 200, 'the main listener still proxies')

  const scraped = await get(`${metricsUrl}/metrics`)
  t.equal(scraped.status, 200)
  t.match(scraped.body, /atlassian_broker_requests_total\{[^}]*caller="report-job"[^}]*\} 1/, 'the metrics listener sees the main listener\'s traffic')
  t.same(JSON.parse((await get(`${metricsUrl}/healthz`)).body), { status: 'ok' })
  t.equal((await get(`${metricsUrl}/readyz`)).status, 200)

  const onMain = await get(`${h.url}/metrics`)
  t.equal(onMain.status, 404, 'no /metrics on the main listener')
  t.match(JSON.parse(onMain.body), { code: 'BROKER_ERR_ROUTE_NOT_FOUND' })
  for (const target of ['/proxy/jira-main/rest/api/3/myself', '/admin/integrations', '/admin/usage']) {
    const there = await get(`${metricsUrl}${target}`, { authorization: `Bearer ${h.callerToken('report-job')}` })
    t.equal(there.status, 404, `no ${target} on the metrics listener`)
    t.match(JSON.parse(there.body), { code: 'BROKER_ERR_ROUTE_NOT_FOUND' }, 'answered with the broker\'s problem body')
  }
})

t.test('metrics.bearerTokenFile: 401 without the token or with another; the file is re-read at each scrape', async (t) => {
  // Not t.testdir: the harness resets that folder for its own data on every start.
  const dir = mkdtempSync(path.join(tmpdir(), 'metrics-token-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const tokenFile = path.join(dir, 'metrics-token')
  writeFileSync(tokenFile, 'scrape-token-one-0123456789\n')
  const h = await startHarness(t, { config: { metrics: { bearerTokenFile: tokenFile } } })
  const url = `${h.url}/metrics`
  const none = await get(url)
  t.equal(none.status, 401)
  t.match(JSON.parse(none.body), { code: 'BROKER_ERR_CALLER_UNAUTHENTICATED', message: /metrics token/ })
  t.equal((await get(url, { authorization: 'Bearer scrape-token-one-012345678' })).status, 401, 'a prefix of the token')
  t.equal((await get(url, { authorization: `Bearer ${h.callerToken('report-job')}` })).status, 401, 'a caller JWT is not the metrics token')
  t.equal((await get(url, { authorization: 'Basic c2NyYXBlOnRva2Vu' })).status, 401)
  const right = await get(url, { authorization: 'Bearer scrape-token-one-0123456789' })
  t.equal(right.status, 200)
  t.match(right.body, /atlassian_broker_/)
  writeFileSync(tokenFile, 'scrape-token-two-0123456789')
  t.equal((await get(url, { authorization: 'Bearer scrape-token-one-0123456789' })).status, 401, 'the old token stops working once the file changes')
  t.equal((await get(url, { authorization: 'Bearer scrape-token-two-0123456789' })).status, 200, 'the new one works at once')
  rmSync(tokenFile)
  const unreadable = await get(url, { authorization: 'Bearer scrape-token-two-0123456789' })
  t.equal(unreadable.status, 503, 'a missing token file closes the metrics (503), never opens them')
  t.equal((await get(`${h.url}/healthz`)).status, 200, 'health stays open')
  t.notOk(h.logs.join('\n').includes('scrape-token'), 'no token in the log')
})

t.test('serve: the real process listens for metrics where metrics.listen says and logs where', async (t) => {
  const dir = t.testdir({})
  writeFileSync(path.join(dir, 'atlassian-broker.yaml'), stringify({
    listen: { host: '127.0.0.1', port: 0 },
    metrics: { listen: { host: '127.0.0.1', port: 0 } }
  }))
  const child = startCli(['serve'], { cwd: dir, env: cliEnv() })
  t.teardown(() => { child.kill('SIGKILL') })
  const { metricsUrl } = JSON.parse(await waitForLine(child, /metrics listener up/)) as { metricsUrl: string }
  const { url } = JSON.parse(await waitForLine(child, /listening on/)) as { url: string }
  t.match(metricsUrl, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
  t.not(new URL(metricsUrl).port, new URL(url).port, 'a port of its own')
  t.equal((await get(metricsUrl)).status, 200)
  t.equal((await get(`${url}/metrics`)).status, 404)
  child.kill('SIGTERM')
  t.equal(await new Promise((resolve) => child.once('exit', resolve)), 0, 'stops cleanly with both listeners')
})
