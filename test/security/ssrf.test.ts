/**
 * The upstream host is the config's, never the caller's (docs/security.md, "Attack catalogue"): no `Host`,
 * `X-Forwarded-*`, `Forwarded`, absolute URL, userinfo, path or query trick, and no upstream redirect makes the broker
 * talk to another host. A second server stands in for the attacker's host and counts every connection it gets.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { JIRA_CLOUD_ID, startHarness } from '../helpers/broker-harness.js'
import { call } from '../helpers/calls.js'
import { head, rawHttp } from '../helpers/raw-http.js'

async function attackerHost (t: Test): Promise<{ host: string, connections: () => number }> {
  let connections = 0
  const server: Server = createServer((_req, res) => { res.end('attacker') })
  server.on('connection', () => { connections++ })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => connections }
}

t.test('no header, target or redirect lets the caller choose the upstream host', async (t) => {
  const evil = await attackerHost(t)
  const h = await startHarness(t, { config: { policy: [{ caller: 'report-job', integration: 'jira-main', methods: ['GET'], paths: ['/**'] }] } })
  const fakeHost = new URL(h.fake.url).host
  const jwt = h.callerToken('report-job')
  const raw = (target: string, lines: string[] = []): ReturnType<typeof rawHttp> =>
    rawHttp(h.url, head(`GET ${target} HTTP/1.1`, [`Host: ${evil.host}`, `Authorization: Bearer ${jwt}`, 'Connection: close', ...lines]))

  const headerTricks = [
    [], [`X-Forwarded-Host: ${evil.host}`, 'X-Forwarded-Proto: http', `X-Forwarded-For: ${evil.host}`], [`Forwarded: host=${evil.host};proto=http`],
    [`X-Original-URL: http://${evil.host}/`, `X-Rewrite-URL: http://${evil.host}/`], [`X-Host: ${evil.host}`, `X-Forwarded-Server: ${evil.host}`]
  ]
  for (const lines of headerTricks) {
    const response = await raw('/proxy/jira-main/rest/api/3/myself', lines)
    t.equal(response.status, 200, `Host: ${evil.host} ${lines.join(' ')}: served by the configured upstream`)
  }
  const targetTricks = [
    `http://${evil.host}/proxy/jira-main/rest/api/3/myself`, `//${evil.host}/rest/api/3/myself`, `/proxy/jira-main//${evil.host}/x`,
    `/proxy/jira-main@${evil.host}/x`, `/proxy/${evil.host}/x`, '/proxy/jira-main/%2F%2Fevil.example/x', '/proxy/jira-main/%5C%5Cevil.example/x',
    `/proxy/jira-main/@${evil.host}/x`, `/proxy/jira-main/rest/api/3/myself?url=http://${evil.host}/`, `/proxy/jira-main:${evil.host.split(':')[1] ?? ''}/x`
  ]
  for (const target of targetTricks) {
    const response = await raw(target)
    t.not(response.body, 'attacker', `${target}: answered ${response.status}, not by the attacker's host`)
  }

  h.fake.setNextResponses((r) => r.endpoint === 'gateway', [{ status: 302, headers: { location: `http://${evil.host}/steal` } }, { status: 307, headers: { location: `http://${evil.host}/steal` } }])
  const redirected = await call(h, '/rest/api/3/myself')
  t.equal(redirected.status, 302, 'an upstream redirect goes back to the caller, unfollowed')
  t.equal(redirected.headers.location, `http://${evil.host}/steal`)
  t.equal((await call(h, '/rest/api/3/myself')).status, 307)

  t.equal(evil.connections(), 0, 'the attacker\'s host was never contacted')
  const forwarded = h.fake.requests.filter((r) => r.endpoint === 'gateway')
  t.ok(forwarded.length >= headerTricks.length + 2)
  for (const request of forwarded) {
    t.equal(request.headers.host, fakeHost, `Host upstream is the configured one (${request.url.slice(0, 60)})`)
    t.ok(request.url.startsWith(`/ex/jira/${JIRA_CLOUD_ID}/`), 'under the integration prefix')
    for (const name of ['x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-for', 'forwarded']) t.equal(request.headers[name], undefined, `${name} not passed on`)
  }
})
