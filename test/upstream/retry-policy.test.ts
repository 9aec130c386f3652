import t from 'tap'
import { ManualClock } from '../helpers/manual-clock.js'
import { parseRateLimitHeaders, type HeaderBag } from '../../src/atlassian/rate-limit-headers.js'
import { DEFAULT_RETRY, retryDelayMs, sleepOn, type RetryQuestion } from '../../src/upstream/retry-policy.js'

const ON = { ...DEFAULT_RETRY, enabled: true }
/** The policy reads the answer's parsed headers; `headers` here are parsed as the send would. */
const ask = ({ headers = { 'Retry-After': '1' }, ...overrides }: Partial<RetryQuestion> & { headers?: HeaderBag } = {}): RetryQuestion => ({
  method: 'GET', hasBody: false, triesSoFar: 1, statusCode: 429, rateLimit: parseRateLimitHeaders(headers, 0), elapsedMs: 0, random: () => 0.5, ...overrides
})

t.test('off by default', async (t) => {
  t.equal(retryDelayMs(DEFAULT_RETRY, ask()), undefined)
})

t.test('exponential backoff from 2 s, doubled per try, with the 0.7-1.3 jitter', async (t) => {
  t.equal(retryDelayMs(ON, ask({ triesSoFar: 1 })), 2_000)
  t.equal(retryDelayMs(ON, ask({ triesSoFar: 2 })), 4_000)
  t.equal(retryDelayMs(ON, ask({ triesSoFar: 1, random: () => 0 })), 1_400)
  t.equal(retryDelayMs(ON, ask({ triesSoFar: 2, random: () => 0.999_999 })), 5_200)
  t.equal(retryDelayMs({ ...ON, maxTotalDelayMs: 60_000 }, ask({ triesSoFar: 3 })), 8_000)
})

t.test('Retry-After is the minimum delay', async (t) => {
  t.equal(retryDelayMs(ON, ask({ headers: { 'retry-after': '7' } })), 7_000)
})

t.test('at most maxTries in all', async (t) => {
  const roomy = { ...ON, maxTotalDelayMs: 1_000_000 }
  t.equal(retryDelayMs(roomy, ask({ triesSoFar: 3 })), 8_000)
  t.equal(retryDelayMs(roomy, ask({ triesSoFar: 4 })), undefined)
})

t.test('never past the time budget (callers\' own timeouts)', async (t) => {
  t.equal(retryDelayMs(ON, ask({ elapsedMs: 13_000 })), 2_000)
  t.equal(retryDelayMs(ON, ask({ elapsedMs: 13_001 })), undefined)
  t.equal(retryDelayMs(ON, ask({ headers: { 'Retry-After': '60' } })), undefined)
})

t.test('only idempotent methods without a body, only 429/503 carrying Retry-After, never a quota 429', async (t) => {
  for (const method of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']) t.ok(retryDelayMs(ON, ask({ method })), method)
  for (const method of ['POST', 'PATCH']) t.equal(retryDelayMs(ON, ask({ method })), undefined, method)
  t.equal(retryDelayMs(ON, ask({ method: 'PUT', hasBody: true })), undefined)
  t.ok(retryDelayMs(ON, ask({ statusCode: 503 })))
  t.equal(retryDelayMs(ON, ask({ statusCode: 500 })), undefined)
  t.equal(retryDelayMs(ON, ask({ headers: {} })), undefined, 'no Retry-After: no retry')
  t.equal(retryDelayMs(ON, ask({ headers: { 'Retry-After': '1', 'RateLimit-Reason': 'jira-quota-global-based' } })), undefined)
  t.ok(retryDelayMs(ON, ask({ headers: { 'Retry-After': '1', 'RateLimit-Reason': 'jira-burst-based' } })))
})

t.test('sleepOn waits on the injected clock and aborts with the caller', async (t) => {
  const clock = new ManualClock()
  const sleep = sleepOn(clock)
  let woke = false
  const sleeping = sleep(2_000, new AbortController().signal).then(() => { woke = true })
  await clock.advance(1_999)
  t.notOk(woke)
  await clock.advance(1)
  await sleeping
  t.ok(woke)

  const abort = new AbortController()
  const aborted = sleep(2_000, abort.signal)
  abort.abort(new Error('caller left'))
  await t.rejects(aborted, { message: 'caller left' })
  t.equal(clock.pendingTimers, 0, 'the timer is cleared')
  const already = new AbortController()
  already.abort(new Error('gone'))
  await t.rejects(sleep(10, already.signal), { message: 'gone' })
})
