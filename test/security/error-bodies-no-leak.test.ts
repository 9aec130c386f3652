/** Secrets stay secret: failure paths are driven and every log line and error body is scanned for planted secrets. */
import t from 'tap'
import { request } from 'undici'
import { CALLER_SECRET, CLIENT_ID, CLIENT_SECRET, MASTER_KEY, rawRequest, startHarness } from '../helpers/broker-harness.js'

t.test('no client secret, access token, caller JWT or master key in logs or error bodies', async (t) => {
  const h = await startHarness(t, { config: { callers: { jwt: { audience: 'atlassian-broker', hs256Secret: CALLER_SECRET }, admin: { role: 'broker-admin' } } } })
  const jwt = h.callerToken('report-job')
  const adminJwt = h.callerToken('ops-alice', { roles: ['broker-admin'] })
  const strangerJwt = h.callerToken('stranger')
  const bodies: string[] = []
  const call = async (
    path: string,
    init: { method?: string, headers?: Record<string, string>, body?: string } = {}
  ): Promise<number> => {
    const response = await request(`${h.url}${path}`, {
      method: (init.method ?? 'GET') as 'GET',
      headers: init.headers ?? { authorization: `Bearer ${jwt}` },
      ...(init.body ? { body: init.body } : {})
    })
    bodies.push(await response.body.text())
    return response.statusCode
  }
  t.equal(await call('/proxy/jira-main/rest/api/3/myself'), 200)
  t.equal(await call('/proxy/jira-main/rest/api/3/myself', { headers: { authorization: `Bearer ${jwt}x` } }), 401)
  t.equal(await call('/proxy/jira-main/rest/api/3/myself', { headers: { authorization: `Bearer ${strangerJwt}` } }), 403)
  bodies.push((await rawRequest(h.url, '/proxy/jira-main/rest/%2e%2e/x', { headers: { authorization: `Bearer ${jwt}` } })).body)
  h.fake.revokeTokensOf(CLIENT_ID)
  t.equal(await call('/proxy/jira-main/rest/api/3/myself'), 200, '401 replay path')
  h.fake.setClientSecret(CLIENT_ID, 'changed')
  h.fake.revokeTokensOf(CLIENT_ID)
  t.equal(await call('/proxy/jira-main/rest/api/3/myself'), 502, 'rejected credential path')
  h.fake.tokenEndpointMode = 'down'
  t.equal(await call('/proxy/wiki-main/wiki/rest/api/user/current'), 503, 'token endpoint down path')
  t.equal(await call('/proxy/jira-main/rest/api/3/issue', { method: 'POST', body: `{"client_secret":"${CLIENT_SECRET}"}`, headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' } }), 502)
  t.equal(await call('/nowhere'), 404)
  // The ops page's data, after all of the above: names, counts and dates only.
  t.equal(await call('/admin/ops', { headers: { authorization: `Bearer ${adminJwt}` } }), 200)
  t.equal(await call('/admin/usage', { headers: { authorization: `Bearer ${adminJwt}` } }), 200)
  t.equal(await call('/admin/ops?caller=x', { headers: { authorization: `Bearer ${jwt}` } }), 403)

  const secrets = [CLIENT_SECRET, CALLER_SECRET, MASTER_KEY, jwt, strangerJwt, adminJwt, ...h.fake.tokensOf(CLIENT_ID)]
  t.ok(h.fake.tokensOf(CLIENT_ID).length >= 2, 'access tokens were minted, so there was something to leak')
  t.ok(h.logs.length > 10, 'logs were captured')
  const haystack = [...h.logs, ...bodies].join('\n')
  for (const secret of secrets) {
    t.notOk(haystack.includes(secret), `not leaked: ${secret.slice(0, 6)}…`)
    // a JWT's signature part alone is also a secret
    const tail = secret.split('.').at(-1) ?? secret
    if (tail.length > 16) t.notOk(haystack.includes(tail), 'no fragment leaked')
  }
})
