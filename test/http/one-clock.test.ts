/**
 * Issue 23 item 7: one clock. Caller auth (fast-jwt's exp/nbf, the verified-token cache, the time claims) and the call
 * record read `Date.now()` while everything else read the injected clock, so a test moving the clock saw a cached
 * token outlive its `exp` and calls recorded at wall time. Now every one of them reads the broker's clock.
 */
import { readFileSync } from 'node:fs'
import t from 'tap'
import { request } from 'undici'
import { startHarness } from '../helpers/broker-harness.js'
import { ManualClock } from '../helpers/manual-clock.js'

const PATH = '/proxy/jira-main/rest/api/3/myself'

t.test('caller tokens are judged on the broker\'s clock: valid by it though expired by the wall, and a cached token ends at its exp', async (t) => {
  // Two weeks and more behind the wall: a token for this clock expired long ago by Date.now().
  const clock = new ManualClock(Date.parse('2026-01-10T08:00:00Z'))
  const h = await startHarness(t, { clock })
  const call = async (token: string): Promise<{ status: number, message: string }> => {
    const res = await request(`${h.url}${PATH}`, { headers: { authorization: `Bearer ${token}` } })
    const text = await res.body.text()
    return { status: res.statusCode, message: res.statusCode === 200 ? '' : (JSON.parse(text) as { message: string }).message }
  }
  const token = h.callerToken('report-job', {}, 600)
  t.equal((await call(token)).status, 200, 'valid on the broker\'s clock')
  t.equal((await call(token)).status, 200, 'again, from the verified-token cache')

  await clock.advance(600_000 + 30_000)
  t.equal((await call(token)).status, 200, 'exp + the 30 s tolerance: still valid')
  await clock.advance(1_000)
  t.match(await call(token), { status: 401, message: /token expired/ }, 'past exp + tolerance: the cached token is refused too')

  const early = h.callerToken('report-job', { nbf: Math.floor(clock.now() / 1000) + 120 })
  t.match(await call(early), { status: 401, message: /not yet valid/ })
  await clock.advance(90_000)
  t.equal((await call(early)).status, 200, 'nbf - tolerance has come on the broker\'s clock')
})

t.test('a call is recorded at the broker\'s clock', async (t) => {
  const clock = new ManualClock(Date.parse('2026-01-10T08:00:00Z'))
  const auditFile = `${t.testdir({})}/calls.jsonl`
  const h = await startHarness(t, { clock, config: { usage: { auditFile } } })
  await clock.advance(90_000)
  const res = await request(`${h.url}${PATH}`, { headers: { authorization: `Bearer ${h.callerToken('report-job')}` } })
  await res.body.dump()
  t.equal(res.statusCode, 200)
  await h.broker.close()
  const records = readFileSync(auditFile, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { at: string })
  t.same(records.map((record) => record.at), ['2026-01-10T08:01:30.000Z'])
})
