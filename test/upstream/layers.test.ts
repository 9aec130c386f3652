/** The layers around the plain send, each on its own: fresh-token (401: drop and replay once) and retry. */
import { Readable } from 'node:stream'
import t from 'tap'
import { parseRateLimitHeaders, type HeaderBag } from '../../src/atlassian/rate-limit-headers.js'
import type { AccessGrant } from '../../src/tokens/token-provider.js'
import { CallerGone } from '../../src/upstream/caller-gone.js'
import { withFreshToken, type GrantSource } from '../../src/upstream/fresh-token-layer.js'
import type { PreparedBody } from '../../src/upstream/prepared-body.js'
import { withRetry } from '../../src/upstream/retry-layer.js'
import { DEFAULT_RETRY, sleepOn } from '../../src/upstream/retry-policy.js'
import type { ForwardRequest, ForwardResponse, SendWithGrant } from '../../src/upstream/upstream-send.js'
import { ManualClock } from '../helpers/manual-clock.js'

const request = (signal = new CallerGone()): ForwardRequest =>
  ({ integration: 'jira-main', method: 'GET', path: '/rest/api/3/myself', query: '', signal }) as unknown as ForwardRequest

const body = (replayable: boolean): PreparedBody =>
  ({ replayable, length: undefined, take: () => undefined, bytesSent: () => 0, failure: () => undefined })

function answer (statusCode: number, headers: HeaderBag = {}, content = '{}'): ForwardResponse & { drained: () => boolean } {
  const stream = Readable.from([Buffer.from(content)])
  return {
    statusCode,
    headers: {},
    body: stream,
    rateLimit: parseRateLimitHeaders(headers, 0),
    bytesIn: () => 0,
    drained: () => stream.readableFlowing === true
  }
}

/** A token provider that hands out numbered grants and records what was dropped. */
type ScriptedGrants = GrantSource & { issued: number, dropped: string[], refusals: string[] }

function grants (refreshOnScopeRefusal = true): ScriptedGrants {
  const source = {
    issued: 0,
    dropped: [] as string[],
    refusals: [] as string[],
    grantFor: async (): Promise<AccessGrant> => {
      source.issued++
      return { authorization: `Bearer t${source.issued}`, secretVersion: 1, expiresAt: undefined }
    },
    invalidate: (_integration: string, grant: AccessGrant): void => { source.dropped.push(grant.authorization) },
    // The token provider's scope-refusal rule (tokens/scope-refusals.ts), scripted: refresh (dropping the grant) or
    // not.
    scopeRefused: (_integration: string, grant: AccessGrant): boolean => {
      source.refusals.push(grant.authorization)
      if (refreshOnScopeRefusal) source.dropped.push(grant.authorization)
      return refreshOnScopeRefusal
    }
  }
  return source
}

/** A send answering from a script, recording the authorization of each try. */
function scripted (answers: ForwardResponse[]): SendWithGrant & { used: string[] } {
  const used: string[] = []
  const send: SendWithGrant = async (_request, _target, _body, grant) => {
    used.push(grant.authorization)
    const next = answers.shift()
    if (next === undefined) throw new Error('no more answers scripted')
    return next
  }
  return Object.assign(send, { used })
}

t.test('fresh token: a 401 drops the grant and replays once with a fresh one when the body can be sent again', async (t) => {
  const tokens = grants()
  const revoked = answer(401)
  const send = scripted([revoked, answer(200)])
  const result = await withFreshToken(send, tokens)(request(), '/t', body(true))
  t.equal(result.statusCode, 200)
  t.same(send.used, ['Bearer t1', 'Bearer t2'])
  t.same(tokens.dropped, ['Bearer t1'])
  t.ok(revoked.drained(), 'the 401\'s body was drained, freeing its connection')
})

t.test('fresh token: a streamed body is not replayed; the 401 goes back, the grant is still dropped', async (t) => {
  const tokens = grants()
  const send = scripted([answer(401), answer(200)])
  const result = await withFreshToken(send, tokens)(request(), '/t', body(false))
  t.equal(result.statusCode, 401)
  t.same(send.used, ['Bearer t1'])
  t.same(tokens.dropped, ['Bearer t1'])
})

t.test('fresh token: any other answer passes through, the cached grant kept; a second 401 is not replayed again', async (t) => {
  const tokens = grants()
  const send = scripted([answer(403), answer(401), answer(401)])
  const layer = withFreshToken(send, tokens)
  t.equal((await layer(request(), '/t', body(true))).statusCode, 403)
  t.same(tokens.dropped, [])
  t.equal((await layer(request(), '/t', body(true))).statusCode, 401, 'replayed once, then the 401 is the answer')
  t.same(send.used, ['Bearer t1', 'Bearer t2', 'Bearer t3'])
})

const SCOPE_MISMATCH = JSON.stringify({ code: 401, message: 'Unauthorized; scope does not match' })

async function text (response: ForwardResponse): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of response.body) chunks.push(Buffer.from(chunk as Buffer))
  return Buffer.concat(chunks).toString('utf8')
}

t.test('fresh token: a scope refusal in cooldown goes back as it came, body whole, with no drop and no replay', async (t) => {
  const tokens = grants(false)
  const send = scripted([answer(401, {}, SCOPE_MISMATCH), answer(200)])
  const result = await withFreshToken(send, tokens)(request(), '/t', body(true))
  t.equal(result.statusCode, 401)
  t.equal(await text(result), SCOPE_MISMATCH, 'the caller gets the body that was read')
  t.same(send.used, ['Bearer t1'])
  t.same(tokens.refusals, ['Bearer t1'])
  t.same(tokens.dropped, [])
})

t.test('fresh token: a scope refusal allowed a refresh replays once; the fresh grant refused the same way is reported', async (t) => {
  const tokens = grants(true)
  const send = scripted([answer(401, {}, SCOPE_MISMATCH), answer(401, {}, SCOPE_MISMATCH)])
  const result = await withFreshToken(send, tokens)(request(), '/t', body(true))
  t.equal(result.statusCode, 401)
  t.equal(await text(result), SCOPE_MISMATCH)
  t.same(send.used, ['Bearer t1', 'Bearer t2'])
  t.same(tokens.refusals, ['Bearer t1', 'Bearer t2'], 'so the cooldown can start')
})

t.test('fresh token: a revoked-token 401 is not a scope refusal; a large 401 body still reaches the caller whole', async (t) => {
  const tokens = grants(false)
  const page = '<html>' + 'x'.repeat(20_000) + ' scope does not match</html>'
  const send = scripted([answer(401, {}, page)])
  const result = await withFreshToken(send, tokens)(request(), '/t', body(false))
  t.equal(await text(result), page, 'held start and streamed rest, in order')
  t.same(tokens.refusals, [], 'the clause beyond the bounded read is not looked for')
  t.same(tokens.dropped, ['Bearer t1'], 'dropped as a revoked token')
})

t.test('fresh token: a 401 whose body breaks while its start is read is a 502, as any broken answer', async (t) => {
  const tokens = grants()
  const broken = answer(401)
  broken.body = new Readable({ read () { this.destroy(Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' })) } })
  const send = scripted([broken])
  await t.rejects(withFreshToken(send, tokens)(request(), '/t', body(true)), { code: 'BROKER_ERR_UPSTREAM_UNAVAILABLE', statusCode: 502 })
  t.same(send.used, ['Bearer t1'], 'no replay')
})

const RETRY_ON = { ...DEFAULT_RETRY, enabled: true }

t.test('retry: a burst 429 is drained, waited for and sent again', async (t) => {
  const clock = new ManualClock()
  const waits: number[] = []
  const limited = answer(429, { 'Retry-After': '3', 'RateLimit-Reason': 'jira-burst-based' })
  const send = scripted([limited, answer(200)])
  const layer = withRetry(withFreshToken(send, grants()), {
    retry: RETRY_ON, clock, sleep: async (ms) => { waits.push(ms) }, random: () => 0.5
  })
  t.equal((await layer(request(), '/t', body(true))).statusCode, 200)
  t.same(waits, [3_000])
  t.ok(limited.drained())
})

t.test('retry: the wait ends when the caller goes away, and nothing more is sent', async (t) => {
  const clock = new ManualClock()
  const gone = new CallerGone()
  const send = scripted([answer(503, { 'Retry-After': '1' }), answer(200)])
  const layer = withRetry(withFreshToken(send, grants()), {
    retry: RETRY_ON, clock, sleep: sleepOn(clock), random: () => 0.5
  })
  const pending = layer(request(gone), '/t', body(true))
  await new Promise((resolve) => setImmediate(resolve))
  gone.abort()
  await t.rejects(pending, { name: 'AbortError' })
  await clock.advance(60_000)
  t.equal(send.used.length, 1, 'one try only')
})
