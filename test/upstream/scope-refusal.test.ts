/**
 * Issue 24 §1: every 401 "scope does not match" made the broker exchange a new token (13 exchanges for 12 calls).
 * A scope refusal is not a revoked token: a fresh token refused that way starts a cooldown without refreshes, shown in
 * the log, the metrics and the ops view; a revoked-token 401 still refreshes and replays.
 */
import t from 'tap'
import { request } from 'undici'
import type { OpsSnapshot } from '../../src/usage/ops-view.js'
import { CALLER_SECRET, CLIENT_ID, CLIENT_SECRET, startHarness, type Harness } from '../helpers/broker-harness.js'
import { ManualClock } from '../helpers/manual-clock.js'

const SCOPE_MISMATCH = { code: 401, message: 'Unauthorized; scope does not match' }
const ADMIN = { callers: { jwt: { audience: 'atlassian-broker', hs256Secret: CALLER_SECRET }, admin: { role: 'broker-admin' } } }

async function call (h: Harness, path: string): Promise<{ status: number, body: string }> {
  const response = await request(`${h.url}/proxy/jira-main${path}`, { headers: { authorization: `Bearer ${h.callerToken('report-job')}` } })
  return { status: response.statusCode, body: await response.body.text() }
}

async function suppressedCount (h: Harness): Promise<number> {
  const text = await h.broker.usage.metrics?.text() ?? ''
  const line = text.split('\n').find((entry) => entry.startsWith('atlassian_broker_token_refresh_suppressed_total{integration="jira-main"}'))
  return Number(line?.split(' ').at(-1))
}

async function opsRow (h: Harness): Promise<OpsSnapshot['credentials'][number] | undefined> {
  const response = await request(`${h.url}/admin/ops`, { headers: { authorization: `Bearer ${h.callerToken('ops-alice', { roles: ['broker-admin'] })}` } })
  const ops = await response.body.json() as OpsSnapshot
  return ops.credentials.find((row) => row.integration === 'jira-main')
}

t.test('12 calls refused for a missing scope cost one exchange, not 13; the cooldown is logged, counted and shown, then ends', async (t) => {
  const clock = new ManualClock()
  const h = await startHarness(t, { clock, config: ADMIN })
  // The credential lacks read:jira-user, which /myself needs: the fake answers as the gateway does (reference §4).
  h.fake.addClient(CLIENT_ID, CLIENT_SECRET, { scopes: ['read:jira-work'] })

  for (let i = 0; i < 12; i++) {
    const answer = await call(h, '/rest/api/3/myself')
    t.equal(answer.status, 401)
    t.same(JSON.parse(answer.body), SCOPE_MISMATCH, 'the caller gets Atlassian\'s own answer body')
  }
  t.ok(h.fake.exchanges <= 2, `at most 2 exchanges (was 13): ${h.fake.exchanges}`)
  t.equal(h.fake.exchanges, 1, 'the first token was fresh: its refusal needed no refresh')
  t.equal(await suppressedCount(h), 12, 'every refresh not done is counted')
  const warnings = h.logs.filter((line) => line.includes('scope does not match') && line.includes('"level":"warn"'))
  t.equal(warnings.length, 1, 'one warning per cooldown')
  t.match(warnings[0], /"integration":"jira-main"/)
  t.notOk(warnings[0]?.includes(CLIENT_SECRET))
  const cooling = h.broker.tokens.state('jira-main').scopeRefusalUntil
  t.equal(cooling, clock.now() + 300_000, 'five minutes')
  t.equal((await opsRow(h))?.scopeRefusalUntil, new Date(cooling ?? 0).toISOString(), 'the ops view shows the cooldown')

  // Cooldown over: the (now old) token gets one refresh; the fresh one is refused the same way, so the next, longer
  // cooldown starts.
  await clock.advance(300_000)
  t.equal((await opsRow(h))?.scopeRefusalUntil, null, 'ended')
  t.equal((await call(h, '/rest/api/3/myself')).status, 401)
  t.equal(h.fake.exchanges, 2, 'one refresh after the cooldown')
  t.equal(h.broker.tokens.state('jira-main').scopeRefusalUntil, clock.now() + 600_000, 'the next cooldown is twice as long')
  for (let i = 0; i < 5; i++) await call(h, '/rest/api/3/myself')
  t.equal(h.fake.exchanges, 2)
  t.equal(h.logs.filter((line) => line.includes('scope does not match') && line.includes('"level":"warn"')).length, 2)

  // An operator's drop ends the cooldown: the next refusal of a fresh token starts it again.
  h.broker.tokens.drop('jira-main')
  t.equal(h.broker.tokens.state('jira-main').scopeRefusalUntil, undefined)
})

t.test('a revoked token (401 without the scope clause) still refreshes and replays, even during a scope-refusal cooldown', async (t) => {
  const clock = new ManualClock()
  const h = await startHarness(t, { clock })
  h.fake.addClient(CLIENT_ID, CLIENT_SECRET, { scopes: ['read:jira-work'] })
  t.equal((await call(h, '/rest/api/3/myself')).status, 401)
  t.ok(h.broker.tokens.state('jira-main').scopeRefusalUntil, 'cooling down')
  t.equal(h.fake.exchanges, 1)

  h.fake.revokeTokensOf(CLIENT_ID)
  const replayed = await call(h, '/rest/api/3/search/jql?jql=project%3DOPS')
  t.equal(replayed.status, 200, 'replayed with a new token')
  t.equal(h.fake.exchanges, 2)
})

t.test('a stale token refused for scope gets one refresh and replay; the cooldown starts when the fresh one is refused too', async (t) => {
  const clock = new ManualClock()
  const h = await startHarness(t, { clock })
  h.fake.addClient(CLIENT_ID, CLIENT_SECRET, { scopes: ['read:jira-work'] })
  t.equal((await call(h, '/rest/api/3/search/jql?jql=x')).status, 200)
  await clock.advance(120_000)
  const refused = await call(h, '/rest/api/3/myself')
  t.equal(refused.status, 401)
  t.same(JSON.parse(refused.body), SCOPE_MISMATCH)
  t.equal(h.fake.exchanges, 2, 'one refresh')
  t.equal(h.fake.requests.filter((r) => r.endpoint === 'gateway' && r.path.endsWith('/myself')).length, 2, 'sent, then replayed once')
  t.ok(h.broker.tokens.state('jira-main').scopeRefusalUntil)
})
