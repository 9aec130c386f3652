/**
 * Issue 23, item 9: Atlassian's rate-limit headers were parsed up to five times per 429 (quota hold, headroom, retry
 * policy, metrics, proxy). Now the send parses each answer once, and every consumer reads that one frozen object.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import t, { type Test } from 'tap'
import { request } from 'undici'
import type { UpstreamRateLimit } from '../../src/atlassian/rate-limit-headers.js'
import { rateLimitReasonOf, type ProxiedCall } from '../../src/usage/proxied-call.js'
import { BETA_RATE_LIMIT_HEADERS, FakeAtlassian } from '../helpers/fake-atlassian.js'
import { JIRA_CLOUD_ID, WIKI_CLOUD_ID, startHarness, type Harness } from '../helpers/broker-harness.js'
import { ManualClock } from '../helpers/manual-clock.js'

const SRC = new URL('../../src/', import.meta.url).pathname

function sourceFiles (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [])
}

t.test('rate-limit headers parsed up to five times per 429: the send is the only caller of the parser', async (t) => {
  const callers = sourceFiles(SRC)
    .filter((file) => !file.endsWith('atlassian/rate-limit-headers.ts'))
    .filter((file) => /\b(parseRateLimitHeaders|rateLimitReason)\(/.test(readFileSync(file, 'utf8')))
    .map((file) => relative(SRC, file))
  t.same(callers, ['upstream/upstream-send.ts'])
})

interface Seen { hold: unknown[], headroom: unknown[], metrics: unknown[], calls: ProxiedCall[] }

/** Records what each consumer is handed, then lets it do its work. */
function watchConsumers (h: Harness): Seen {
  const seen: Seen = { hold: [], headroom: [], metrics: [], calls: [] }
  const { quotaHold, usage } = h.broker
  const metrics = usage.metrics
  if (metrics === undefined) throw new Error('metrics are on by default')
  const hold = quotaHold.observe.bind(quotaHold)
  quotaHold.observe = (integration, statusCode, rateLimit) => {
    seen.hold.push(rateLimit)
    hold(integration, statusCode, rateLimit)
  }
  const headroom = usage.headroom.observe.bind(usage.headroom)
  usage.headroom.observe = (integration, statusCode, rateLimit) => {
    seen.headroom.push(rateLimit)
    headroom(integration, statusCode, rateLimit)
  }
  const counted = metrics.onUpstreamResponse.bind(metrics)
  metrics.onUpstreamResponse = (integration, statusCode, rateLimit) => {
    seen.metrics.push(rateLimit)
    counted(integration, statusCode, rateLimit)
  }
  const record = usage.record.bind(usage)
  usage.record = (call) => { seen.calls.push(call); record(call) }
  return seen
}

async function retryingHarness (t: Test, clock: ManualClock): Promise<{ h: Harness, waits: number[] }> {
  const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }, { product: 'confluence', cloudId: WIKI_CLOUD_ID }] })
  const waits: number[] = []
  const h = await startHarness(t, {
    fake,
    clock,
    config: { atlassian: { tokenUrl: fake.tokenUrl, apiUrl: fake.url, retry: { enabled: true } } },
    brokerOptions: { sleep: async (ms) => { waits.push(ms) }, random: () => 0.5 }
  })
  return { h, waits }
}

async function get (h: Harness): Promise<number> {
  const res = await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: { authorization: `Bearer ${h.callerToken('report-job')}` } })
  await res.body.dump()
  return res.statusCode
}

const isParsed = (value: unknown): value is UpstreamRateLimit =>
  typeof value === 'object' && value !== null && 'enforced' in value && Object.isFrozen(value)

t.test('a quota 429 with Atlassian\'s headers: one parsed object, and hold, headroom, metric, retry and call record agree', async (t) => {
  const clock = new ManualClock(Date.parse('2026-12-04T10:00:00Z'))
  const { h, waits } = await retryingHarness(t, clock)
  t.equal(await get(h), 200, 'warm: token minted')
  const seen = watchConsumers(h)
  h.fake.setNextResponses((r) => r.endpoint === 'gateway', [{
    status: 429,
    headers: {
      'Retry-After': '1800',
      'X-RateLimit-Limit': '65000',
      'X-RateLimit-Remaining': '0',
      'X-RateLimit-Reset': '2026-12-04T10:45:00Z',
      'RateLimit-Reason': 'jira-quota-global-based',
      ...BETA_RATE_LIMIT_HEADERS
    }
  }])
  t.equal(await get(h), 429)

  t.equal(seen.hold.length, 1, 'one answer, seen once by each consumer')
  const parsed = seen.hold[0]
  if (!isParsed(parsed)) throw new Error('the quota hold was handed raw headers, not the parsed, frozen answer')
  t.equal(seen.headroom.length, 1)
  t.equal(seen.headroom[0], parsed, 'the headroom reads the same object')
  t.equal(seen.metrics.length, 1)
  t.equal(seen.metrics[0], parsed, 'so do the metrics')
  t.equal(seen.calls[0]?.upstreamRateLimit, parsed, 'and the call record carries it')
  t.ok(Object.isFrozen(parsed.enforced) && Object.isFrozen(parsed.beta.policies), 'frozen all the way down')

  t.equal(parsed.reason, 'jira-quota-global-based')
  t.equal(parsed.enforced.retryAfterMs, 1_800_000)
  t.equal(h.broker.quotaHold.heldUntil('jira-main'), Date.parse('2026-12-04T10:45:00Z'), 'hold: the later of Retry-After and the reset')
  t.same(waits, [], 'retry: a quota 429 is not retried')
  t.match(h.broker.usage.headroom.entries(), [{
    integration: 'jira-main',
    statusCode: 429,
    limit: 65000,
    remaining: 0,
    resetAt: '2026-12-04T10:45:00.000Z',
    reason: 'jira-quota-global-based',
    retryAfterSeconds: 1800,
    beta: { policy: 'global-app-quota', quota: 65000, windowSeconds: 3600, remaining: 11000, resetSeconds: 600 }
  }], 'headroom updated')
  t.equal(seen.calls[0] === undefined ? undefined : rateLimitReasonOf(seen.calls[0]), 'jira-quota-global-based', 'the call record names the same reason')
  const metrics = await (await request(`${h.url}/metrics`)).body.text()
  t.match(metrics, /atlassian_broker_upstream_rate_limited_total\{integration="jira-main",reason="jira-quota-global-based"\} 1\n/, 'metric incremented')
})

t.test('a burst 429, retried: each answer parsed once, and the retry waits what the headroom shows', async (t) => {
  const clock = new ManualClock(Date.parse('2026-12-04T10:00:00Z'))
  const { h, waits } = await retryingHarness(t, clock)
  t.equal(await get(h), 200, 'warm: token minted')
  const seen = watchConsumers(h)
  h.fake.setNextResponses((r) => r.endpoint === 'gateway', [{
    status: 429,
    headers: { 'Retry-After': '3', 'X-RateLimit-Reset': '2026-12-04T10:00:03Z', 'RateLimit-Reason': 'jira-burst-based', ...BETA_RATE_LIMIT_HEADERS }
  }])
  t.equal(await get(h), 200, 'retried and answered')

  t.equal(seen.hold.length, 2, 'two answers: the 429 and the 200')
  t.ok(seen.hold.every(isParsed))
  t.same(seen.headroom, seen.hold)
  t.same(seen.metrics, seen.hold)
  t.equal(seen.headroom[0], seen.hold[0])
  t.equal(seen.calls[0]?.upstreamRateLimit, seen.hold[1], 'the call record carries the answer the caller got')
  t.same(waits, [3_000], 'retry: Retry-After (3 s) over the 2 s backoff')
  t.equal(h.broker.usage.headroom.entries()[0]?.retryAfterSeconds, 3)
  t.equal(h.broker.quotaHold.heldUntil('jira-main'), undefined, 'a burst 429 holds nothing')
  const metrics = await (await request(`${h.url}/metrics`)).body.text()
  t.match(metrics, /atlassian_broker_upstream_rate_limited_total\{integration="jira-main",reason="jira-burst-based"\} 1\n/)
})
