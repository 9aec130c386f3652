/**
 * A known path with a method it does not serve: 405 BROKER_ERR_METHOD_NOT_ALLOWED with `Allow` (RFC 9110), before any
 * authentication; an unknown path stays 404. Found by schemathesis (test/interop/schemathesis.test.ts): TRACE answered
 * 404 and QUERY 400.
 */
import t from 'tap'
import { CALLER_SECRET, rawRequest, startHarness } from '../helpers/broker-harness.js'

const ADMIN_CONFIG = { callers: { jwt: { audience: 'atlassian-broker', hs256Secret: CALLER_SECRET }, admin: { role: 'broker-admin' } } }

t.test('405 with Allow on known paths, for any undeclared method; 404 for unknown paths', async (t) => {
  const h = await startHarness(t, { config: ADMIN_CONFIG })
  const cases: Array<[string, string, string]> = [
    ['TRACE', '/healthz', 'GET, HEAD'],
    ['POST', '/readyz', 'GET, HEAD'],
    ['QUERY', '/admin/integrations/jira-main', 'GET, HEAD'],
    ['PUT', '/admin/integrations/jira-main/rotate', 'POST'],
    ['GET', '/admin/integrations/jira-main/token', 'DELETE'],
    ['TRACE', '/proxy/jira-main/rest/api/3/myself', 'DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT'],
    ['QUERY', '/proxy/jira-main', 'DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT'],
    ['TRACE', '/admin/usage?scope=pod', 'GET, HEAD']
  ]
  for (const [method, path, allow] of cases) {
    const res = await rawRequest(h.url, path, { method })
    t.equal(res.statusCode, 405, `${method} ${path}`)
    t.equal(res.headers.allow, allow, `${method} ${path}: Allow`)
    t.match(JSON.parse(res.body), { code: 'BROKER_ERR_METHOD_NOT_ALLOWED', message: new RegExp(`^Method ${method} is not allowed`) })
  }
  const unknown = await rawRequest(h.url, '/nothing/here', { method: 'TRACE' })
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.headers.allow, undefined)
  t.equal((await rawRequest(h.url, '/healthz')).statusCode, 200, 'declared methods are untouched')
  t.equal(h.fake.requests.filter((r) => r.endpoint === 'gateway').length, 0, 'nothing went upstream')
})
