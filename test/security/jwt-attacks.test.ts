/**
 * Caller JWT attacks (docs/security.md, "Attack catalogue"): `alg: none`, HS/RS key confusion, `kid` tricks, header
 * keys (`jwk`, `jku`, `x5u`), `crit`, expiry and not-before around the clock tolerance, `aud`/`iss` missing or wrong,
 * unknown callers. Oversized tokens: limits.test.ts. Each refusal is a 401 problem and nothing reaches Atlassian.
 */
import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createSigner } from 'fast-jwt'
import t, { type Test } from 'tap'
import { JwksClient, JwksUnavailableError } from '../../src/callers/jwks.js'
import { CALLER_SECRET, startHarness, type Harness } from '../helpers/broker-harness.js'
import { call } from '../helpers/calls.js'

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
const now = (): number => Math.floor(Date.now() / 1000)
const claims = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ sub: 'report-job', aud: 'atlassian-broker', exp: now() + 600, ...extra })
const pem = (key: KeyObject): string => key.export({ type: key.type === 'private' ? 'pkcs8' : 'spki', format: 'pem' }).toString()

/** An HMAC-signed token built by hand, so any header and any claim type can be sent (signers refuse odd ones). */
function hs (payload: Record<string, unknown>, header: Record<string, unknown> = {}, key = CALLER_SECRET, algorithm: 'HS256' | 'HS384' | 'HS512' = 'HS256'): string {
  const input = `${b64({ alg: algorithm, typ: 'JWT', ...header })}.${b64(payload)}`
  return `${input}.${createHmac(`sha${algorithm.slice(2)}`, key).update(input).digest('base64url')}`
}

async function expectRefused (t: Test, h: Harness, cases: Array<[string, string]>, status = 401): Promise<void> {
  for (const [name, token] of cases) {
    const result = await call(h, '/rest/api/3/myself', { headers: { authorization: `Bearer ${token}` } })
    t.equal(result.status, status, `${name}: ${status}`)
    t.equal(result.code, status === 401 ? 'BROKER_ERR_CALLER_UNAUTHENTICATED' : 'BROKER_ERR_POLICY_DENIED', `${name}: code`)
  }
}

t.test('HS256 broker: forged, confused, tampered and misdirected tokens are refused', async (t) => {
  const h = await startHarness(t)
  const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const valid = hs(claims())
  const [head, body] = valid.split('.')
  const cases: Array<[string, string]> = [
    ...['none', 'None', 'NONE', 'nOnE'].map((alg): [string, string] => [`alg ${alg}`, `${b64({ alg, typ: 'JWT' })}.${b64(claims())}.`]),
    ['alg none with a signature kept', `${b64({ alg: 'none' })}.${body ?? ''}.${valid.split('.')[2] ?? ''}`],
    ['signature stripped', `${head ?? ''}.${body ?? ''}.`],
    ['payload swapped under a valid signature', `${head ?? ''}.${b64(claims({ sub: 'admin-job' }))}.${valid.split('.')[2] ?? ''}`],
    ['HS384 with the right secret (algorithm pinned)', hs(claims(), {}, CALLER_SECRET, 'HS384')],
    ['HS512 with the right secret (algorithm pinned)', hs(claims(), {}, CALLER_SECRET, 'HS512')],
    ['RS256 with an attacker key', createSigner({ key: pem(attacker.privateKey), algorithm: 'RS256' })(claims())],
    ['RS256 with the key embedded as jwk', createSigner({ key: pem(attacker.privateKey), algorithm: 'RS256', header: { alg: 'RS256', jwk: attacker.publicKey.export({ format: 'jwk' }) } })(claims())],
    ['empty key (a kid pointing at /dev/null)', hs(claims(), { kid: '../../../../dev/null' }, ' ')],
    ['crit naming a standard header', hs(claims(), { crit: ['exp'] })],
    ['crit naming an unknown extension', hs(claims(), { crit: ['x-broker-ignore'], 'x-broker-ignore': true })],
    ['crit not an array', hs(claims(), { crit: 'x-broker-ignore' })],
    ['expired beyond the 30 s tolerance', hs(claims({ exp: now() - 45 }))],
    ['not yet valid beyond the tolerance', hs(claims({ nbf: now() + 90 }))],
    ['exp as a string', hs(claims({ exp: String(now() + 600) }))],
    ['wrong aud', hs(claims({ aud: 'another-service' }))],
    ['aud list without ours', hs(claims({ aud: ['another-service', 'atlassian-broker-evil'] }))],
    ['sub missing', hs({ aud: 'atlassian-broker', exp: now() + 600 })],
    ['sub not a string', hs(claims({ sub: 42 }))],
    ['sub empty', hs(claims({ sub: '' }))],
    ['two tokens', `${valid} ${valid}`],
    ['not a JWT', 'eyJhbGciOiJIUzI1NiJ9']
  ]
  await expectRefused(t, h, cases)
  t.equal(h.fake.requests.length, 0, 'no refused token reached Atlassian')
  t.match(h.logs.join('\n'), /token/)

  const accepted: Array<[string, string]> = [
    ['expired 10 s ago, within the tolerance', hs(claims({ exp: now() - 10 }))],
    ['nbf 10 s ahead, within the tolerance', hs(claims({ nbf: now() + 10 }))],
    ['aud list with ours', hs(claims({ aud: ['another-service', 'atlassian-broker'] }))],
    ['an odd kid with the right key (HS256 ignores kid)', hs(claims(), { kid: "' OR 1=1 --" })]
  ]
  for (const [name, token] of accepted) t.equal((await call(h, '/rest/api/3/myself', { headers: { authorization: `Bearer ${token}` } })).status, 200, `${name}: accepted`)
  await expectRefused(t, h, [['a valid token for a caller no rule names', hs(claims({ sub: 'stranger' }))]], 403)
})

t.test('regression: a token without aud (or without iss when an issuer is configured) passed, as fast-jwt skips absent claims', async (t) => {
  const h = await startHarness(t, { config: { callers: { jwt: { audience: 'atlassian-broker', issuer: 'https://ci.example', hs256Secret: CALLER_SECRET } } } })
  await expectRefused(t, h, [
    ['no aud', hs({ sub: 'report-job', iss: 'https://ci.example', exp: now() + 600 })],
    ['no iss', hs({ sub: 'report-job', aud: 'atlassian-broker', exp: now() + 600 })],
    ['wrong iss', hs(claims({ iss: 'https://evil.example' }))]
  ])
  t.equal((await call(h, '/rest/api/3/myself', { headers: { authorization: `Bearer ${hs(claims({ iss: 'https://ci.example' }))}` } })).status, 200, 'aud and iss present and right: accepted')
})

t.test('regression: the kid header never reached the key lookup (the callback got the payload), so with two keys every token was refused', async (t) => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const dir = mkdtempSync(path.join(tmpdir(), 'broker-keys-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(path.join(dir, 'ci.pem'), pem(rsa.publicKey))
  writeFileSync(path.join(dir, 'ops.pem'), pem(ec.publicKey))
  const h = await startHarness(t, { config: { callers: { jwt: { audience: 'atlassian-broker', publicKeys: [`${dir}/ci.pem`, `${dir}/ops.pem`] } } } })
  const rs = (kid: string | undefined, key = rsa.privateKey): string => createSigner({ key: pem(key), algorithm: 'RS256', ...(kid === undefined ? {} : { kid }) })(claims())
  const es = (kid: string | undefined): string => createSigner({ key: pem(ec.privateKey), algorithm: 'ES256', ...(kid === undefined ? {} : { kid }) })(claims())
  t.equal((await call(h, '/rest/api/3/myself', { headers: { authorization: `Bearer ${rs('ci')}` } })).status, 200, 'RS256 with kid ci')
  t.equal((await call(h, '/rest/api/3/myself', { headers: { authorization: `Bearer ${es('ops')}` } })).status, 200, 'ES256 with kid ops')
  t.equal((await call(h, '/rest/api/3/myself', { headers: { authorization: `Bearer ${createSigner({ key: pem(rsa.privateKey), algorithm: 'RS256' })(claims({ kid: 'ops' }))}` } })).status, 401,
    'a kid claim in the payload selects nothing')
  const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 })
  await expectRefused(t, h, [
    ['no kid with two keys configured', rs(undefined)],
    ['kid of the other key', rs('ops')],
    ['ES256 token under the RSA kid', es('ci')],
    ['HS256 signed with the ci public key text', hs(claims(), { kid: 'ci' }, pem(rsa.publicKey))],
    ...['__proto__', 'constructor', '../ci', 'ci.pem', 'CI', 'ci\u0000', ''].map((kid): [string, string] => [`kid ${JSON.stringify(kid)}`, rs(kid)]),
    ['an attacker key under a known kid', rs('ci', attacker.privateKey)],
    ['jku pointing elsewhere', createSigner({ key: pem(attacker.privateKey), algorithm: 'RS256', kid: 'ci', header: { alg: 'RS256', jku: 'http://127.0.0.1:1/jwks', x5u: 'http://127.0.0.1:1/cert' } })(claims())]
  ])
})

t.test('JWKS: each kid picks its key; made-up kids never cost more than one fetch per refetch interval', async (t) => {
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const next = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const jwks = await jwksServer(t, { keys: [{ ...key.publicKey.export({ format: 'jwk' }), kid: 'k1', use: 'sig' }, { ...next.publicKey.export({ format: 'jwk' }), kid: 'k2', use: 'sig' }] })
  const h = await startHarness(t, { config: { callers: { jwt: { audience: 'atlassian-broker', jwksUrl: jwks.url } } } })
  const sign = (kid: string, signer = key): string => createSigner({ key: pem(signer.privateKey), algorithm: 'ES256', kid })(claims())
  t.equal((await call(h, '/rest/api/3/myself', { headers: { authorization: `Bearer ${sign('k1')}` } })).status, 200, 'k1')
  t.equal((await call(h, '/rest/api/3/myself', { headers: { authorization: `Bearer ${sign('k2', next)}` } })).status, 200, 'k2 (an issuer mid-rotation)')
  await expectRefused(t, h, [['k2 signed with the k1 key', sign('k2')]])
  await expectRefused(t, h, Array.from({ length: 30 }, (_, index): [string, string] => [`made-up kid ${index}`, sign(`kid-${index}`)]))
  t.equal(jwks.hits(), 1, 'one JWKS fetch in all')
})

t.test('regression: while the JWKS endpoint failed, every caller token (even garbage with a kid) cost one JWKS fetch, and callers got 401', async (t) => {
  const jwks = await jwksServer(t, undefined)
  const h = await startHarness(t, { config: { callers: { jwt: { audience: 'atlassian-broker', jwksUrl: jwks.url } } } })
  for (let index = 0; index < 20; index++) {
    const garbage = `${b64({ alg: 'ES256', kid: `kid-${index}` })}.${b64(claims())}.AAAA`
    const result = await call(h, '/rest/api/3/myself', { headers: { authorization: `Bearer ${garbage}` } })
    t.equal(result.status, 503, 'the broker cannot verify anyone: 503, not the caller\'s fault')
    t.equal(result.code, 'BROKER_ERR_NOT_READY')
    t.equal(result.retryAfter, '5')
  }
  t.equal(jwks.hits(), 1, 'one fetch, then the failure backoff')
})

t.test('JwksClient: the last keys keep serving while the endpoint fails; it is tried again after the backoff', async (t) => {
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const jwks = await jwksServer(t, { keys: [{ ...key.publicKey.export({ format: 'jwk' }), kid: 'k1' }] })
  let clock = 1_000_000
  const client = new JwksClient(jwks.url, {
    ttlMs: 60_000,
    minRefetchMs: 10_000,
    failureBackoffMs: 5_000,
    now: () => clock
  })
  t.type(await client.keyFor('k1'), 'string')
  jwks.fail(true)
  clock += 61_000
  t.type(await client.keyFor('k1'), 'string', 'stale keys serve while the endpoint fails')
  for (let index = 0; index < 10; index++) await client.keyFor('k1')
  t.equal(jwks.hits(), 2, 'one failed refresh, then none during the backoff')
  clock += 5_000
  jwks.fail(false)
  t.type(await client.keyFor('k1'), 'string')
  t.equal(jwks.hits(), 3, 'tried again after the backoff, and fresh again')
  const empty = new JwksClient('http://127.0.0.1:1/jwks', { now: () => clock })
  await t.rejects(empty.keyFor('k1'), JwksUnavailableError, 'no keys ever fetched: JwksUnavailableError')
})

async function jwksServer (
  t: Test,
  document: { keys: unknown[] } | undefined
): Promise<{ url: string, hits: () => number, fail: (on: boolean) => void }> {
  let hits = 0
  let failing = document === undefined
  const server = createServer((_req, res) => {
    hits++
    if (failing) {
      res.writeHead(503).end()
      return
    }
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify(document))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  )
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`,
    hits: () => hits,
    fail: (on) => {
      failing = on
    }
  }
}
