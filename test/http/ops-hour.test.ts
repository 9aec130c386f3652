/**
 * GET /admin/ops, the hour an SRE asks about (issue 27 §2): who (callers by calls and errors, with their limits),
 * what fails (by status and code, error rates, p50/p95/p99 per integration, the latest failures by request id), how
 * close to the limits (remaining over time, quota holds, token exchanges) and which config is loaded (its hash, the
 * last refused reload). Every figure is checked against the calls sent through a live broker.
 */
import path from 'node:path'
import { writeFileSync } from 'node:fs'
import t from 'tap'
import { request } from 'undici'
import { ConfigReloader } from '../../src/config/reload.js'
import { createLogger } from '../../src/logger.js'
import type { OpsSnapshot } from '../../src/usage/ops-view.js'
import { CALLER_SECRET, startHarness } from '../helpers/broker-harness.js'
import { HTML_CALLER, OPS_POLICY, sendOpsTraffic } from '../helpers/ops-traffic.js'

const ADMIN_CONFIG = { callers: { jwt: { audience: 'atlassian-broker', hs256Secret: CALLER_SECRET }, admin: { role: 'broker-admin' } }, policy: OPS_POLICY }

t.test('the ops view\'s hour: who, what fails, how close to the limits, which config', async (t) => {
  const h = await startHarness(t, { config: ADMIN_CONFIG })
  await sendOpsTraffic(h)
  // One more failure whose request id the caller saw: the page must list it first.
  const denied = await request(`${h.url}/proxy/jira-main/rest/api/2/serverInfo`, { headers: { authorization: `Bearer ${h.callerToken('sync-job')}` } })
  await denied.body.dump()
  t.equal(denied.statusCode, 403)
  const headers = { authorization: `Bearer ${h.callerToken('ops-alice', { roles: ['broker-admin'] })}` }
  const get = async (query = ''): Promise<OpsSnapshot> => await (await request(`${h.url}/admin/ops${query}`, { headers })).body.json() as OpsSnapshot
  const ops = await get()

  // Who: busiest first, each with its outcomes, limits and queue.
  t.same(ops.callerHours.map((entry) => [entry.caller, entry.requests, entry.errors]), [
    ['report-job', 10, 6], ['sync-job', 4, 2], [HTML_CALLER, 1, 0], ['unauthenticated', 1, 1]
  ], 'callers by calls in the hour, with their errors')
  const sync = ops.callerHours.find((entry) => entry.caller === 'sync-job')
  t.equal(sync?.errorRate, 0.5)
  t.equal(sync?.outcomes.callerLimited, 1, 'its refusals by its own limit')
  t.same(sync?.limits, [{ integration: 'jira-main', perSecond: 0.001, burst: 2, rateLimitScope: 'pod', maxConcurrent: null }], 'its rule\'s limits beside its usage')
  t.same(ops.callerHours.find((entry) => entry.caller === 'report-job')?.limits, [], 'no limit but the default')
  t.equal(ops.defaultMaxConcurrent, 32)
  t.match(sync, { waiting: 0, seatsInUse: 0 })

  // What fails: by status and code, per integration.
  const byCode = Object.fromEntries(ops.failures.byCode.map((entry) => [`${entry.integration} ${entry.statusCode} ${entry.code ?? '-'}`, entry.count]))
  t.same(byCode, {
    'jira-main 403 BROKER_ERR_POLICY_DENIED': 2,
    'jira-main 404 -': 1,
    'jira-main 503 -': 1,
    'jira-main 429 -': 1,
    'jira-main 429 BROKER_ERR_CALLER_RATE_LIMITED': 1,
    'jira-main 401 BROKER_ERR_CALLER_UNAUTHENTICATED': 1,
    'wiki-main 429 -': 1,
    'wiki-main 429 BROKER_ERR_UPSTREAM_RATE_LIMITED': 1
  }, 'a policy 403 and an unauthenticated 401 apart, Atlassian\'s 404 apart from its 429')
  t.equal(ops.failures.recent.length, 9, 'every failure of the hour is among the latest (fewer than the ring holds)')
  t.match(ops.failures.recent[0], { requestId: denied.headers['x-request-id'], caller: 'sync-job', integration: 'jira-main', statusCode: 403, code: 'BROKER_ERR_POLICY_DENIED' }, 'newest first, by the id the caller saw')
  t.match(ops.failures.recent[0]?.at, /Z$/, 'times in UTC')
  const jira = ops.integrationHours.find((entry) => entry.integration === 'jira-main')
  t.match(jira, { requests: 13, errors: 7, errorRate: 0.5385, budget: null }, '7 of 13 calls failed')
  t.ok(jira !== undefined && jira.p50Ms !== null && jira.p95Ms !== null && jira.p99Ms !== null &&
    jira.p50Ms <= jira.p95Ms && jira.p95Ms <= jira.p99Ms, 'p50 <= p95 <= p99')

  // How close to the limits: remaining over time, the quota hold as a span, token exchanges.
  const wiki = ops.integrationHours.find((entry) => entry.integration === 'wiki-main')
  t.match(wiki?.headroom.at(-1), { remaining: 0, limit: 65000 }, 'the last minute\'s remaining')
  t.match(jira?.headroom.at(-1), { remaining: 0, limit: 350 })
  t.equal(ops.holds.length, 1)
  t.match(ops.holds[0], { integration: 'wiki-main' })
  t.ok(Date.parse(String(ops.holds[0]?.until)) - Date.parse(String(ops.holds[0]?.from)) >= 1_700_000, 'held for the window')
  t.ok((jira?.exchanges.ok ?? 0) >= 1, 'the token exchanges of the hour')
  t.equal(ops.exchangeMinutes.filter((entry) => entry.integration === 'jira-main' && entry.outcome === 'ok').reduce((sum, entry) => sum + entry.count, 0), jira?.exchanges.ok, 'per minute adds up to the hour')

  // The selection applies to the hour too.
  const selected = await get('?caller=sync-job&integration=jira-main')
  t.same(selected.callerHours.map((entry) => entry.caller), ['sync-job'])
  t.same(selected.integrationHours.map((entry) => entry.integration), ['jira-main'])
  t.ok(selected.failures.recent.every((entry) => entry.caller === 'sync-job'))
  t.same(selected.holds, [], 'wiki-main\'s hold is not jira-main\'s')

  // Config: the hash loaded, then a refused reload with its problems; the old hash still serves.
  t.same(ops.fleet, false)
  t.match(ops.config, { hash: h.broker.live.state.hash, reloads: 0, lastRefused: null })
  t.match(ops.config.loadedAt, /Z$/)
  const file = path.join(t.testdir({}), 'broker.yaml')
  writeFileSync(file, 'integrations: [not, a, map]\n')
  const logger = createLogger({ level: 'silent' })
  const { live, config: running, reloading } = h.broker
  const reloader = new ConfigReloader({ file, live, running, logger, ...reloading })
  t.equal((await reloader.reload()).outcome, 'rejected')
  const after = await get()
  t.equal(after.config.hash, ops.config.hash, 'the old config keeps serving')
  t.match(after.config.lastRefused, { at: /Z$/, problems: [/integrations/] }, 'the refused reload, with its problems')
})
