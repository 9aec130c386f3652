/**
 * A known mix of calls for the ops page tests: every outcome of src/usage/call-outcome.ts at least once, sent
 * through a live broker to the fake Atlassian, with the counts each (caller, integration) should show afterwards.
 */
import { request } from 'undici'
import type { CallOutcome } from '../../src/usage/call-outcome.js'
import type { Harness } from './broker-harness.js'
import { BETA_RATE_LIMIT_HEADERS, json, rateLimited, serviceUnavailable } from './fake-atlassian.js'

/** A caller name with markup in it: the page must show it as text. */
export const HTML_CALLER = '<img src=x onerror="document.title=\'pwned\'"><b>bold-job</b>'

export const OPS_POLICY = [
  { caller: 'report-job', integration: 'jira-main', methods: ['GET'], paths: ['/rest/api/3/**'] },
  { caller: 'report-job', integration: 'wiki-main', methods: ['GET'], paths: ['/wiki/**'] },
  { caller: 'sync-job', integration: 'jira-main', methods: ['GET'], paths: ['/rest/api/3/**'], rateLimit: { perSecond: 0.001, burst: 2 } },
  { caller: HTML_CALLER, integration: 'jira-main', methods: ['GET'], paths: ['/rest/api/3/**'] }
]

export type Expected = Record<string, Partial<Record<CallOutcome, number>>>
export const key = (caller: string, integration: string): string => `${caller}\u0000${integration}`

async function call (h: Harness, caller: string | null, integration: string, path: string): Promise<number> {
  const authorization = caller === null ? 'Bearer not-a-valid-token' : `Bearer ${h.callerToken(caller)}`
  const res = await request(`${h.url}/proxy/${integration}${path}`, { headers: { authorization } })
  await res.body.dump()
  return res.statusCode
}

const gateway = (r: { endpoint: string }): boolean => r.endpoint === 'gateway'

/** Sends the mix; throws if any answer is not the one planned (so the expected counts are what really happened). */
export async function sendOpsTraffic (h: Harness): Promise<Expected> {
  const run = async (status: number, caller: string | null, integration: string, path: string): Promise<void> => {
    const got = await call(h, caller, integration, path)
    if (got !== status) throw new Error(`planned ${status} for ${caller ?? 'no token'} on ${integration}${path}, got ${got}`)
  }
  for (let i = 0; i < 3; i++) await run(200, 'report-job', 'jira-main', '/rest/api/3/myself')
  await run(403, 'report-job', 'jira-main', '/rest/api/2/myself')
  h.fake.setNextResponses(gateway, [json(404, { errorMessages: ['Issue does not exist or you do not have permission to see it.'], errors: {} })])
  await run(404, 'report-job', 'jira-main', '/rest/api/3/issue/NOPE-1')
  h.fake.setNextResponses(gateway, [serviceUnavailable()])
  await run(503, 'report-job', 'jira-main', '/rest/api/3/myself')
  h.fake.setNextResponses(gateway, [rateLimited({ retryAfterSeconds: 2, reason: 'jira-burst-based', limit: 350 })])
  await run(429, 'report-job', 'jira-main', '/rest/api/3/myself')
  await run(200, 'sync-job', 'jira-main', '/rest/api/3/myself')
  await run(200, 'sync-job', 'jira-main', '/rest/api/3/myself')
  await run(429, 'sync-job', 'jira-main', '/rest/api/3/myself')
  await run(200, HTML_CALLER, 'jira-main', '/rest/api/3/myself')
  await run(401, null, 'jira-main', '/rest/api/3/myself')
  h.fake.setNextResponses(gateway, [{ status: 200, headers: { 'content-type': 'application/json', ...BETA_RATE_LIMIT_HEADERS }, body: { results: [] } }])
  await run(200, 'report-job', 'wiki-main', '/wiki/api/v2/spaces')
  h.fake.setNextResponses(gateway, [rateLimited({ retryAfterSeconds: 1800, reason: 'confluence-quota-global-based', limit: 65_000 })])
  await run(429, 'report-job', 'wiki-main', '/wiki/api/v2/spaces')
  await run(429, 'report-job', 'wiki-main', '/wiki/api/v2/spaces')
  return {
    [key('report-job', 'jira-main')]: { ok: 3, brokerRefused: 1, atlassianRefused: 1, failed: 1, atlassianLimited: 1 },
    [key('sync-job', 'jira-main')]: { ok: 2, callerLimited: 1 },
    [key(HTML_CALLER, 'jira-main')]: { ok: 1 },
    [key('unauthenticated', 'jira-main')]: { brokerRefused: 1 },
    [key('report-job', 'wiki-main')]: { ok: 1, atlassianLimited: 1, quotaHeld: 1 }
  }
}

export const DAY_MS = 86_400_000

/** jira-main expires in 2 days (critical), wiki-main in 10 (warning); owners and rotation fields recorded. */
export async function setExpiries (h: Harness): Promise<void> {
  const inDays = (days: number): string => new Date(Date.now() + days * DAY_MS + 3_600_000).toISOString()
  await h.store.updateMetadata('jira-main', { expires_at: inDays(2), owner: 'team-platform', rotated_at: '2026-11-30T09:00:00.000Z', rotated_by: 'ops-alice' })
  await h.store.updateMetadata('wiki-main', { expires_at: inDays(10), owner: 'team-docs' })
}
