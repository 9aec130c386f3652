/**
 * The admin listener trusts no browser (issue 24, item 2): a page on any site performed real rollbacks on a loopback
 * admin listener (`fetch(…, {method: 'POST', mode: 'no-cors'})` and `navigator.sendBeacon`, an empty body taken as
 * `{}`), and any Host was served, so DNS rebinding gave full admin. Here the requests carry the headers a browser
 * sends, byte for byte over loopback (test/http/admin-browser.test.ts does the same with a real Chromium).
 */
import t, { type Test } from 'tap'
import { listenAdmin } from '../../src/http/admin-listener.js'
import { auditSettled, startAdminHarness, type AdminHarness } from '../helpers/admin-harness.js'
import { CLIENT_ID, CLIENT_SECRET } from '../helpers/broker-harness.js'
import { head, rawHttp, type RawResponse } from '../helpers/raw-http.js'

const PROXY_NAME = 'broker-admin.internal'

type Send = (request: string, headers: string[], body?: string) => Promise<RawResponse>

async function adminListener (t: Test): Promise<{ h: AdminHarness, url: string, host: string, send: Send }> {
  const h = await startAdminHarness(t, 'file', { admin: { role: undefined, listen: { host: '127.0.0.1', port: 0 }, allowedHosts: [PROXY_NAME] } })
  const app = h.broker.credentialAdmin.adminApp
  if (app === undefined) throw new Error('no admin listener built')
  const url = await listenAdmin(app, { host: '127.0.0.1', port: 0 })
  const host = new URL(url).host
  const send: Send = async (request, headers, body = '') => await rawHttp(url, head(request, [
    ...headers, ...(body === '' ? [] : [`Content-Length: ${Buffer.byteLength(body)}`]), 'Connection: close'
  ]) + body)
  return { h, url, host, send }
}

/** A second version to roll back from: the store starts at version 1. */
async function rotateOnce (send: Send, host: string): Promise<void> {
  const body = JSON.stringify({ credential: { client_id: CLIENT_ID, client_secret: CLIENT_SECRET } })
  const rotated = await send('POST /admin/integrations/jira-main/rotate HTTP/1.1', [`Host: ${host}`, 'Content-Type: application/json'], body)
  if (rotated.status !== 200) throw new Error(`rotation answered ${rotated.status}: ${rotated.body}`)
}

t.test('regression: a page on another site rolled back a credential with a no-cors fetch and with sendBeacon', async (t) => {
  const { h, host, send } = await adminListener(t)
  await rotateOnce(send, host)
  const rollback = 'POST /admin/integrations/jira-main/rollback HTTP/1.1'
  const attacks: Array<[string, string[], string, string]> = [
    // fetch(url, {method: 'POST', mode: 'no-cors'}): no body, no Content-Type.
    ['no-cors fetch, no body', [`Host: ${host}`, 'Origin: https://evil.example', 'Sec-Fetch-Site: cross-site', 'Sec-Fetch-Mode: no-cors', 'Sec-Fetch-Dest: empty'], '', 'BROKER_ERR_CROSS_ORIGIN_REFUSED'],
    // navigator.sendBeacon(url, '{}'): text/plain;charset=UTF-8.
    ['sendBeacon with a string', [`Host: ${host}`, 'Origin: https://evil.example', 'Sec-Fetch-Site: cross-site', 'Sec-Fetch-Mode: no-cors', 'Content-Type: text/plain;charset=UTF-8'], '{}', 'BROKER_ERR_CROSS_ORIGIN_REFUSED'],
    // navigator.sendBeacon(url, new URLSearchParams()), from a sibling origin on the same machine (same-site).
    ['sendBeacon with form data, same-site', [`Host: ${host}`, 'Origin: http://localhost:3000', 'Sec-Fetch-Site: same-site', 'Content-Type: application/x-www-form-urlencoded;charset=UTF-8'], 'a=1', 'BROKER_ERR_CROSS_ORIGIN_REFUSED'],
    // A browser without Fetch Metadata still sends Origin on a POST.
    ['Origin only', [`Host: ${host}`, 'Origin: https://evil.example', 'Content-Type: text/plain'], '{}', 'BROKER_ERR_CROSS_ORIGIN_REFUSED'],
    ['opaque origin (sandboxed frame, data: page)', [`Host: ${host}`, 'Origin: null', 'Content-Type: text/plain'], '{}', 'BROKER_ERR_CROSS_ORIGIN_REFUSED'],
    // DNS rebinding: evil.example resolved to 127.0.0.1, so to the browser the request is same-origin.
    ['DNS rebinding', [`Host: evil.example:${host.split(':')[1] ?? ''}`, `Origin: http://evil.example:${host.split(':')[1] ?? ''}`, 'Sec-Fetch-Site: same-origin', 'Content-Type: application/json'], '{}', 'BROKER_ERR_ADMIN_HOST_REFUSED'],
    ['Host with userinfo smuggling the address', [`Host: evil.example@${host}`, 'Content-Type: application/json'], '{}', 'BROKER_ERR_ADMIN_HOST_REFUSED'],
    // Without any browser header: the media type and the body are required.
    ['text/plain without browser headers', [`Host: ${host}`, 'Content-Type: text/plain'], '{}', 'BROKER_ERR_UNSUPPORTED_MEDIA_TYPE'],
    ['no body, no Content-Type', [`Host: ${host}`], '', 'BROKER_ERR_UNSUPPORTED_MEDIA_TYPE'],
    ['JSON null', [`Host: ${host}`, 'Content-Type: application/json'], 'null', 'BROKER_ERR_BAD_REQUEST'],
    ['application/json, empty body', [`Host: ${host}`, 'Content-Type: application/json', 'Content-Length: 0'], '', 'BROKER_ERR_BAD_REQUEST']
  ]
  const requestIds: string[] = []
  for (const [name, headers, body, code] of attacks) {
    const response = await send(rollback, headers, body)
    t.equal(response.status, code === 'BROKER_ERR_UNSUPPORTED_MEDIA_TYPE' ? 415 : code === 'BROKER_ERR_BAD_REQUEST' ? 400 : 403, `${name}: refused`)
    const problem = JSON.parse(response.body) as { code: string, requestId: string }
    t.equal(problem.code, code, `${name}: ${code}`)
    requestIds.push(problem.requestId)
    t.equal(response.headers['cache-control'], 'no-store', `${name}: no-store`)
    t.equal(response.headers['x-content-type-options'], 'nosniff', `${name}: nosniff`)
  }
  t.equal(await h.store.currentVersion('jira-main'), 2, 'no rollback happened')
  const records = await auditSettled(h, 1 + attacks.length)
  t.equal(records.length, 1 + attacks.length, 'the rotation and one record per refused attempt')
  attacks.forEach(([name, , , code], index) => {
    t.match(records[index + 1], { action: 'rollback', integration: 'jira-main', actor: 'admin-listener', via: 'admin-listener', outcome: 'refused', code, requestId: requestIds[index], detail: /^refused before the rollback/ }, `${name}: audited`)
  })

  // What an operator sends still works: curl with JSON, and the ops page's own same-origin requests.
  const curl = await send(rollback, [`Host: ${host}`, 'Content-Type: application/json', 'User-Agent: curl/8.5.0'], '{}')
  t.equal(curl.status, 200, 'curl -H "content-type: application/json" --data "{}"')
  t.equal(await h.store.currentVersion('jira-main'), 3)
  const sameOrigin = await send('GET /admin/integrations/jira-main HTTP/1.1', [`Host: ${host}`, 'Sec-Fetch-Site: same-origin', 'Sec-Fetch-Mode: cors'])
  t.equal(sameOrigin.status, 200, 'a same-origin fetch from the ops page')
  const typed = await send('GET /admin HTTP/1.1', ['Host: localhost', 'Sec-Fetch-Site: none', 'Sec-Fetch-Mode: navigate'])
  t.equal(typed.status, 200, 'the ops page opened by typing http://localhost:…/admin')
  t.equal(typed.headers['cache-control'], 'no-store')
  t.equal(typed.headers['x-content-type-options'], 'nosniff')
})

t.test('Host: the bound address, localhost and callers.admin.allowedHosts; Origin must be the listener itself', async (t) => {
  const { host, send } = await adminListener(t)
  const port = host.split(':')[1] ?? ''
  const get = (headers: string[]): Promise<RawResponse> => send('GET /admin/integrations HTTP/1.1', headers)
  const cases: Array<[string, string[], number]> = [
    ['bound address', [`Host: ${host}`], 200],
    ['localhost with the port', [`Host: localhost:${port}`], 200],
    ['LOCALHOST (names are case-insensitive)', [`Host: LOCALHOST:${port}`], 200],
    ['a name behind a proxy, listed in allowedHosts', [`Host: ${PROXY_NAME}`, `Origin: https://${PROXY_NAME}`, 'Sec-Fetch-Site: same-origin'], 200],
    ['same-origin with Origin', [`Host: ${host}`, `Origin: http://${host}`], 200],
    ['no Host at all (HTTP/1.0)', [], 403],
    ['another name', [`Host: attacker.example:${port}`], 403],
    ['another loopback address than the bound one', [`Host: 127.0.0.2:${port}`], 403],
    ['a listed name with a trailing dot', [`Host: ${PROXY_NAME}.`], 403],
    ['Origin on another port of the same host', [`Host: ${host}`, 'Origin: http://127.0.0.1:1'], 403],
    ['Origin of the proxy name on a request to the address', [`Host: ${host}`, `Origin: https://${PROXY_NAME}`], 403],
    ['Sec-Fetch-Site: cross-site on a GET', [`Host: ${host}`, 'Sec-Fetch-Site: cross-site'], 403]
  ]
  for (const [name, headers, status] of cases) {
    const response = name.startsWith('no Host')
      ? await rawHttp(`http://${host}`, 'GET /admin/integrations HTTP/1.0\r\n\r\n')
      : await get(headers)
    t.equal(response.status, status, name)
    if (status === 403) t.match(JSON.parse(response.body), { code: /^BROKER_ERR_(ADMIN_HOST|CROSS_ORIGIN)_REFUSED$/ }, `${name}: a problem body`)
  }
})

t.test('405 and 414 on the admin listener are problem bodies, and audited when they name a change', async (t) => {
  const { h, host, send } = await adminListener(t)
  const wrongMethod = await send('PUT /admin/integrations/jira-main/rollback HTTP/1.1', [`Host: ${host}`, 'Content-Type: application/json'], '{}')
  t.equal(wrongMethod.status, 405)
  t.equal(wrongMethod.headers.allow, 'POST')
  t.match(JSON.parse(wrongMethod.body), { code: 'BROKER_ERR_METHOD_NOT_ALLOWED' })
  const getToken = await send('GET /admin/integrations/wiki-main/token HTTP/1.1', [`Host: ${host}`])
  t.equal(getToken.status, 405)
  const longName = 'n'.repeat(300)
  const tooLong = await send(`POST /admin/integrations/${longName}/rotate HTTP/1.1`, [`Host: ${host}`, 'Content-Type: application/json'], '{}')
  t.equal(tooLong.status, 414)
  t.match(JSON.parse(tooLong.body), { statusCode: 414, code: 'BROKER_ERR_BAD_REQUEST' })
  t.equal(tooLong.headers['cache-control'], 'no-store')
  const notAChange = await send('PUT /admin/integrations/jira-main HTTP/1.1', [`Host: ${host}`, 'Content-Type: application/json'], '{}')
  t.equal(notAChange.status, 405, 'a wrong method on a read-only path')
  const records = await auditSettled(h, 3)
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.match(h.auditRecords(), [
    { action: 'rollback', integration: 'jira-main', actor: 'admin-listener', outcome: 'refused', code: 'BROKER_ERR_METHOD_NOT_ALLOWED', requestId: (JSON.parse(wrongMethod.body) as { requestId: string }).requestId },
    { action: 'drop-token', integration: 'wiki-main', outcome: 'refused', code: 'BROKER_ERR_METHOD_NOT_ALLOWED' },
    { action: 'rotate', integration: 'n'.repeat(64), outcome: 'refused', code: 'BROKER_ERR_BAD_REQUEST', detail: /^refused before the rotate/ }
  ], 'one record per attempt at a change; none for the read-only path')
  t.equal(records.length, 3)
})

t.test('main listener: admin changes need a JSON body too, and every admin answer is no-store and nosniff', async (t) => {
  const h = await startAdminHarness(t, 'file')
  type Answer = { statusCode: number, code?: string }
  const post = async (url: string, payload: string | undefined, type: string | undefined): Promise<Answer> => {
    const response = await h.broker.app.inject({
      method: 'POST',
      url,
      headers: { authorization: `Bearer ${h.adminToken()}`, ...(type === undefined ? {} : { 'content-type': type }) },
      ...(payload === undefined ? {} : { payload })
    })
    return { statusCode: response.statusCode, code: (response.json() as { code?: string }).code }
  }
  t.match(await post('/admin/integrations/jira-main/rollback', undefined, undefined), { statusCode: 415, code: 'BROKER_ERR_UNSUPPORTED_MEDIA_TYPE' }, 'no body used to be taken as {}')
  t.match(await post('/admin/integrations/jira-main/rollback', 'null', 'application/json'), { statusCode: 400, code: 'BROKER_ERR_BAD_REQUEST' }, 'a null body used to be taken as {}')
  t.match(await post('/admin/integrations/jira-main/rollback', '{}', 'text/plain'), { statusCode: 415, code: 'BROKER_ERR_UNSUPPORTED_MEDIA_TYPE' })
  t.match(await post('/admin/integrations/jira-main/rotate', '[]', 'application/json; charset=utf-8'), { statusCode: 400, code: 'BROKER_ERR_BAD_REQUEST' })
  const dropNull = await h.broker.app.inject({ method: 'DELETE', url: '/admin/integrations/jira-main/token', headers: { authorization: `Bearer ${h.adminToken()}`, 'content-type': 'application/json' }, payload: 'null' })
  t.equal(dropNull.statusCode, 400, 'a DELETE body, when sent, is {}')
  t.equal((await h.admin('DELETE', '/admin/integrations/jira-main/token')).statusCode, 200, 'a DELETE without a body is fine: no page can send one cross-origin')
  t.equal(await h.store.currentVersion('jira-main'), 1, 'nothing was written')

  for (const url of ['/admin/integrations', '/admin/integrations/nope', '/admin/usage', '/admin/ops', '/admin']) {
    const response = await h.broker.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${h.adminToken()}` } })
    t.equal(response.headers['cache-control'], 'no-store', `${url} (${response.statusCode}): no-store`)
    t.equal(response.headers['x-content-type-options'], 'nosniff', `${url}: nosniff`)
  }
})
