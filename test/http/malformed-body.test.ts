/**
 * A malformed body is never quoted back: Node's JSON SyntaxError quotes the input it choked on, which for a rotation is
 * the new secret. Fastify 5 wraps its own parser's failures in a fixed message; any other 4xx from outside the broker
 * is answered with a fixed text too (src/http/problem.ts).
 */
import t from 'tap'
import { request } from 'undici'
import type { FastifyError } from 'fastify'
import { toProblem } from '../../src/http/problem.js'
import { CALLER_SECRET, startHarness } from '../helpers/broker-harness.js'

t.test('a malformed rotate body is refused without quoting it', async (t) => {
  const h = await startHarness(t, { config: { callers: { jwt: { audience: 'atlassian-broker', hs256Secret: CALLER_SECRET }, admin: { role: 'broker-admin' } } } })
  const secret = 's3cr3tVALUEthatMustNotEcho'
  const response = await request(`${h.url}/admin/integrations/jira-main/rotate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${h.callerToken('ops', { roles: ['broker-admin'] })}`, 'content-type': 'application/json' },
    body: `{"credential": {"client_id": "x", "client_secret": ${secret}"}}`
  })
  const text = await response.body.text()
  t.equal(response.statusCode, 400)
  t.match(JSON.parse(text), { code: 'BROKER_ERR_BAD_REQUEST', message: /not valid JSON/ })
  t.notOk(text.includes(secret.slice(0, 8)), 'no part of the body is quoted back')
  t.notOk(h.logs.join('\n').includes(secret.slice(0, 8)), 'nor logged')
})

t.test('a 4xx raised outside the broker keeps its status but not its message', async (t) => {
  let parseError: SyntaxError | undefined
  try { JSON.parse('{"client_secret": s3cr3tVALUE}') } catch (error) { parseError = error as SyntaxError }
  t.ok(parseError?.message.includes('s3cr3t') ?? false, 'Node quotes the input (the hazard this guards against)')
  const json = toProblem(Object.assign(parseError as SyntaxError, { statusCode: 400 }) as unknown as FastifyError, 'r1')
  t.match(json.body, { statusCode: 400, code: 'BROKER_ERR_BAD_REQUEST', message: 'Bad request: the request body is not valid JSON' })
  const other = toProblem(Object.assign(new Error('token=abc123 refused'), { statusCode: 422 }) as FastifyError, 'r2')
  t.match(other.body, { statusCode: 422, code: 'BROKER_ERR_BAD_REQUEST', message: 'Bad request: malformed request' })
})
