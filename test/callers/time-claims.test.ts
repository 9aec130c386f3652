/**
 * JWT time claims and duplicated credentials (issue 16, item 4): `iat` in the future or not a number, `exp` years
 * ahead, a lifetime past `callers.jwt.maxLifetime`, and two Authorization headers in one request.
 */
import { createHmac } from 'node:crypto'
import t from 'tap'
import { request } from 'undici'
import { refuseTimeClaims } from '../../src/callers/time-claims.js'
import { mintCallerToken } from '../../src/cli/caller-token.js'
import { parseConfig, requireCloudIds } from '../../src/config/load.js'
import { CALLER_SECRET, startHarness } from '../helpers/broker-harness.js'
import { gatewayRequests, problemCode } from '../helpers/calls.js'
import { head, rawHttp } from '../helpers/raw-http.js'

const PATH = '/proxy/jira-main/rest/api/3/myself'
const DAY = 86_400
const YEAR = 365 * DAY
const RULES = { clockToleranceSeconds: 30, maxLifetimeSeconds: DAY }

/** HS256 by hand: fast-jwt's signer replaces or drops `iat`, and these tests need the exact claims given. */
function sign (claims: Record<string, unknown>): string {
  const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`
  return `${input}.${createHmac('sha256', CALLER_SECRET).update(input).digest('base64url')}`
}

t.test('refuseTimeClaims: NumericDates only, no iat in the future, lifetime at most maxLifetime', async (t) => {
  const now = 1_900_000_000
  const at = now * 1000
  t.equal(refuseTimeClaims({ exp: now + 3600, iat: now }, RULES, at), undefined, 'an hour-long token issued now')
  t.equal(refuseTimeClaims({ exp: now + 3600, iat: now + 20 }, RULES, at), undefined, 'iat 20 s ahead: within the clock tolerance')
  t.equal(refuseTimeClaims({ exp: now + DAY, iat: now }, RULES, at), undefined, 'exactly maxLifetime')
  t.equal(refuseTimeClaims({ exp: now + 3600 }, RULES, at), undefined, 'no iat, an hour left')
  t.match(refuseTimeClaims({ exp: now + 3600, iat: now + 31 }, RULES, at), /future/, 'iat past the tolerance')
  t.match(refuseTimeClaims({ exp: now + YEAR + 3600, iat: now + YEAR }, RULES, at), /future/, 'iat a year ahead')
  t.match(refuseTimeClaims({ exp: now + 3600, iat: 'abc' }, RULES, at), /"iat" is not a NumericDate/)
  t.match(refuseTimeClaims({ exp: now + 3600, iat: null }, RULES, at), /"iat" is not a NumericDate/)
  t.match(refuseTimeClaims({ exp: now + 3600, nbf: '0' }, RULES, at), /"nbf" is not a NumericDate/)
  t.match(refuseTimeClaims({ exp: Infinity }, RULES, at), /"exp" is not a NumericDate/)
  t.match(refuseTimeClaims({ exp: now + DAY + 1, iat: now }, RULES, at), /lifetime exceeds the accepted 86400 s/)
  t.match(refuseTimeClaims({ exp: Date.UTC(9999, 0, 1) / 1000 }, RULES, at), /lifetime/, 'exp in year 9999, no iat')
  t.match(refuseTimeClaims({ exp: now + 2 * DAY }, RULES, at), /lifetime/, 'no iat: what is left counts')
  t.match(refuseTimeClaims({ exp: now + 3600, iat: now - 2 * DAY }, RULES, at), /lifetime/, 'issued two days ago, valid one more hour: 49 h lifetime')
})

t.test('refuseTimeClaims: exp and nbf on the given clock, with the tolerance on either side (as fast-jwt bounded them)', async (t) => {
  const now = 1_900_000_000
  const at = now * 1000
  t.equal(refuseTimeClaims({ exp: now - 30 }, RULES, at), undefined, 'expired 30 s ago: within the tolerance')
  t.equal(refuseTimeClaims({ exp: now - 31 }, RULES, at), 'token expired')
  t.equal(refuseTimeClaims({ exp: now + 60, nbf: now + 30 }, RULES, at), undefined, 'valid in 30 s: within the tolerance')
  t.equal(refuseTimeClaims({ exp: now + 60, nbf: now + 31 }, RULES, at), 'token not yet valid (nbf)')
  t.equal(refuseTimeClaims({ exp: now - 31 }, RULES, (now - 3600) * 1000), undefined, 'the same token, an hour earlier on the clock')
})

t.test('callers.jwt.maxLifetime: seconds or a duration, 24 h by default', async (t) => {
  t.equal(parseConfig({}).callers.jwt.maxLifetime, DAY)
  for (const [given, seconds] of [[3600, 3600], ['90m', 5400], ['2h', 7200], ['7d', 7 * DAY], ['45s', 45]] as const) {
    t.equal(
      parseConfig({ callers: { jwt: { maxLifetime: given } } }).callers.jwt.maxLifetime,
      seconds,
      JSON.stringify(given)
    )
  }
  for (const bad of ['1 year', '-1h', 0, 'h']) {
    t.throws(() => parseConfig({ callers: { jwt: { maxLifetime: bad } } }), { code: 'BROKER_ERR_CONFIG' }, JSON.stringify(bad))
  }
})

t.test('over the wire: 401 for future iat, non-numeric time claims and overlong lifetimes; nothing goes upstream', async (t) => {
  const h = await startHarness(t)
  const now = Math.floor(Date.now() / 1000)
  const base = { sub: 'report-job', aud: 'atlassian-broker' }
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['iat a year ahead', { ...base, iat: now + YEAR, exp: now + YEAR + 3600 }, /future/],
    ['iat ten years ahead', { ...base, iat: now + 10 * YEAR, exp: now + 10 * YEAR + 3600 }, /future/],
    ['iat "abc"', { ...base, iat: 'abc', exp: now + 3600 }, /NumericDate/],
    ['exp in year 9999', { ...base, iat: now, exp: Date.UTC(9999, 0, 1) / 1000 }, /lifetime/],
    ['exp in year 9999 without iat', { ...base, exp: Date.UTC(9999, 0, 1) / 1000 }, /lifetime/],
    ['25 h lifetime', { ...base, iat: now, exp: now + 25 * 3600 }, /lifetime/]
  ]
  for (const [name, claims, reason] of cases) {
    const response = await request(`${h.url}${PATH}`, { headers: { authorization: `Bearer ${sign(claims)}` } })
    const body = await response.body.json() as { code?: string, message?: string }
    t.equal(response.statusCode, 401, `${name}: 401`)
    t.equal(body.code, 'BROKER_ERR_CALLER_UNAUTHENTICATED', `${name}: code`)
    t.match(body.message, reason, `${name}: the message says why`)
  }
  const fine = await request(`${h.url}${PATH}`, { headers: { authorization: `Bearer ${sign({ ...base, iat: now + 10, exp: now + 3600 })}` } })
  await fine.body.dump()
  t.equal(fine.statusCode, 200, 'iat 10 s ahead (within clockToleranceSeconds) and an hour long: accepted')
  t.equal(gatewayRequests(h), 1, 'only the accepted token reached Atlassian')
})

t.test('a shorter callers.jwt.maxLifetime refuses a token the default accepts', async (t) => {
  const h = await startHarness(t, { config: { callers: { jwt: { hs256Secret: CALLER_SECRET, maxLifetime: '30m' } } } })
  const now = Math.floor(Date.now() / 1000)
  const hour = await request(`${h.url}${PATH}`, { headers: { authorization: `Bearer ${sign({ sub: 'report-job', aud: 'atlassian-broker', iat: now, exp: now + 3600 })}` } })
  t.equal(hour.statusCode, 401)
  t.match((await hour.body.json() as { message: string }).message, /1800 s/)
  const short = await request(`${h.url}${PATH}`, { headers: { authorization: `Bearer ${sign({ sub: 'report-job', aud: 'atlassian-broker', iat: now, exp: now + 600 })}` } })
  await short.body.dump()
  t.equal(short.statusCode, 200)
})

t.test('two Authorization headers in one request: 400 BROKER_ERR_BAD_REQUEST, whatever their order or case', async (t) => {
  const h = await startHarness(t, { config: { callers: { jwt: { hs256Secret: CALLER_SECRET }, admin: { role: 'broker-admin' } } } })
  const good = h.callerToken('report-job', { roles: ['broker-admin'] })
  const other = h.callerToken('other-job')
  const attempts: Array<[string, string[]]> = [
    ['valid, then garbage', [`Authorization: Bearer ${good}`, 'Authorization: Bearer garbage']],
    ['garbage, then valid', ['Authorization: Bearer garbage', `Authorization: Bearer ${good}`]],
    ['two valid callers, different case', [`authorization: Bearer ${good}`, `AUTHORIZATION: Bearer ${other}`]],
    ['the same token twice', [`Authorization: Bearer ${good}`, `Authorization: Bearer ${good}`]]
  ]
  // A first call with the token puts it in the verified-token cache: the cache must not skip the check.
  const warm = await request(`${h.url}${PATH}`, { headers: { authorization: `Bearer ${good}` } })
  await warm.body.dump()
  t.equal(warm.statusCode, 200)
  for (const [name, lines] of attempts) {
    const response = await rawHttp(h.url, head(`GET ${PATH} HTTP/1.1`, ['Host: broker', ...lines, 'Connection: close']))
    t.equal(response.status, 400, `${name}: 400`)
    t.equal(problemCode(response.body), 'BROKER_ERR_BAD_REQUEST', `${name}: code`)
    t.match(response.body, /one Authorization header/, `${name}: says what to fix`)
  }
  const admin = await rawHttp(h.url, head('GET /admin/integrations HTTP/1.1', ['Host: broker', `Authorization: Bearer ${good}`, `Authorization: Bearer ${good}`, 'Connection: close']))
  t.equal(admin.status, 400, 'the admin API refuses them too')
  t.equal(gatewayRequests(h), 1, 'only the single-header warm-up call was forwarded')
})

t.test('caller-token refuses a --ttl the broker would refuse (longer than callers.jwt.maxLifetime)', async (t) => {
  const config = requireCloudIds(parseConfig({ callers: { jwt: { hs256Secret: CALLER_SECRET, maxLifetime: '2h' } } }))
  t.throws(() => mintCallerToken(config, { sub: 'report-job', ttlSeconds: 3 * 3600 }), /longer than the broker accepts \(callers\.jwt\.maxLifetime: 7200 s\)/)
  t.type(mintCallerToken(config, { sub: 'report-job', ttlSeconds: 7200 }), 'string', 'exactly the maximum is fine')
})
