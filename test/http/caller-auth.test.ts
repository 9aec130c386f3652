/** Caller identity: every malformed, expired, misdirected or forged JWT is refused with 401 and a JSON problem. */
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createSigner } from 'fast-jwt'
import t from 'tap'
import { request } from 'undici'
import { CALLER_SECRET, startHarness } from '../helpers/broker-harness.js'

const PATH = '/proxy/jira-main/rest/api/3/myself'

function b64 (value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

t.test('HS256 callers: accepted when valid, 401 with WWW-Authenticate otherwise', async (t) => {
  const h = await startHarness(t)
  const now = Math.floor(Date.now() / 1000)
  const sign = createSigner({ key: CALLER_SECRET, algorithm: 'HS256' })
  const other = createSigner({ key: 'another-secret-that-is-long-enough-0123456789', algorithm: 'HS256' })
  const cases: Array<[string, string | undefined, string]> = [
    ['missing header', undefined, 'Authorization'],
    ['not bearer', `Basic ${Buffer.from('a:b').toString('base64')}`, 'Authorization'],
    ['expired', `Bearer ${sign({ sub: 'report-job', aud: 'atlassian-broker', exp: now - 3600 })}`, 'expired'],
    ['not yet valid', `Bearer ${sign({ sub: 'report-job', aud: 'atlassian-broker', exp: now + 3600, nbf: now + 600 })}`, 'not yet valid'],
    ['wrong audience', `Bearer ${sign({ sub: 'report-job', aud: 'someone-else', exp: now + 3600 })}`, 'audience'],
    ['wrong key', `Bearer ${other({ sub: 'report-job', aud: 'atlassian-broker', exp: now + 3600 })}`, 'signature'],
    ['alg none', `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'report-job', aud: 'atlassian-broker', exp: now + 3600 })}.`, 'token'],
    ['no exp', `Bearer ${sign({ sub: 'report-job', aud: 'atlassian-broker' })}`, 'claim'],
    ['garbage', 'Bearer not.a.jwt', 'token']
  ]
  for (const [name, authorization, hint] of cases) {
    const response = await request(`${h.url}${PATH}`, { headers: authorization ? { authorization } : {} })
    const body = await response.body.json() as Record<string, unknown>
    t.equal(response.statusCode, 401, `${name}: 401`)
    t.match(response.headers['www-authenticate'], /^Bearer/, `${name}: WWW-Authenticate`)
    t.equal(body.code, 'BROKER_ERR_CALLER_UNAUTHENTICATED', `${name}: code`)
    t.match(String(body.message), new RegExp(hint, 'i'), `${name}: message says why`)
    t.type(body.requestId, 'string')
  }
  t.equal(h.fake.requests.length, 0, 'no refused caller reached Atlassian (not even the token endpoint)')
  const ok = await request(`${h.url}${PATH}`, { headers: { authorization: `Bearer ${h.callerToken('report-job')}` } })
  await ok.body.dump()
  t.equal(ok.statusCode, 200)
})

t.test('issuer is checked when configured', async (t) => {
  const h = await startHarness(t, { config: { callers: { jwt: { audience: 'atlassian-broker', hs256Secret: CALLER_SECRET, issuer: 'https://ci.example' } } } })
  const bad = await request(`${h.url}${PATH}`, { headers: { authorization: `Bearer ${h.callerToken('report-job', { iss: 'https://evil.example' })}` } })
  t.equal(bad.statusCode, 401)
  await bad.body.dump()
  const good = await request(`${h.url}${PATH}`, { headers: { authorization: `Bearer ${h.callerToken('report-job', { iss: 'https://ci.example' })}` } })
  t.equal(good.statusCode, 200)
  await good.body.dump()
})

for (const [type, algorithm, options] of [
  ['rsa', 'RS256', { modulusLength: 2048 }],
  ['ec', 'ES256', { namedCurve: 'P-256' }],
  ['ed25519', 'EdDSA', {}]
] as const) {
  t.test(`${algorithm} public-key callers`, async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'broker-keys-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const { publicKey, privateKey } = generateKeyPairSync(type as 'rsa', options as { modulusLength: number })
    writeFileSync(`${dir}/ci.pem`, publicKey.export({ type: 'spki', format: 'pem' }))
    const h = await startHarness(t, { config: { callers: { jwt: { audience: 'atlassian-broker', publicKeys: [`${dir}/ci.pem`] } } } })
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
    const sign = createSigner({ key: pem, algorithm: algorithm as 'RS256' })
    const exp = Math.floor(Date.now() / 1000) + 600
    const good = await request(`${h.url}${PATH}`, { headers: { authorization: `Bearer ${sign({ sub: 'report-job', aud: 'atlassian-broker', exp })}` } })
    await good.body.dump()
    t.equal(good.statusCode, 200, 'signed with the matching private key')
    // Key confusion: an HS256 token "signed" with the public key's PEM text must not pass.
    const confused = createSigner({ key: publicKey.export({ type: 'spki', format: 'pem' }).toString(), algorithm: 'HS256' })
    const bad = await request(`${h.url}${PATH}`, { headers: { authorization: `Bearer ${confused({ sub: 'report-job', aud: 'atlassian-broker', exp })}` } })
    await bad.body.dump()
    t.equal(bad.statusCode, 401, 'HS256 token signed with the public key is refused')
  })
}
