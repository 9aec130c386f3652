/** Metric labels stay bounded and secret-free; the expiry timestamp and secret store errors are read as documented. */
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { request } from 'undici'
import { SecretStoreUnavailableError } from '../../src/errors.js'
import { createLogger } from '../../src/logger.js'
import { createFileStore } from '../../src/secrets/file/file-store.js'
import type { SecretStore } from '../../src/secrets/secret-store.js'
import { startAdminHarness } from '../helpers/admin-harness.js'
import { json } from '../helpers/fake-atlassian.js'
import { CALLER_SECRET, CLIENT_ID, CLIENT_SECRET, MASTER_KEY, startHarness, type Harness } from '../helpers/broker-harness.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { parseSamples, sampleValue } from '../helpers/prometheus-text.js'

const POLICY = [
  { caller: 'report-job', integration: '*', methods: ['GET', 'POST'], paths: ['/**'] },
  { caller: 'job-*', integration: 'jira-main', methods: ['GET'], paths: ['/rest/**'] }
]
const random = (): string => randomBytes(6).toString('hex')

async function scrape (h: Harness): Promise<string> {
  return (await request(`${h.url}/metrics`)).body.text()
}

t.test('random paths, callers, methods and integrations cannot grow the label sets', async (t) => {
  const h = await startHarness(t, { config: { policy: POLICY } })
  const jwts: string[] = []
  const sent: string[] = []
  for (let i = 0; i < 120; i++) {
    const caller = [`job-${random()}`, `stranger-${random()}`, 'report-job'][i % 3] ?? 'report-job'
    const integration = i % 4 === 0 ? `made-up-${random()}` : i % 4 === 1 ? 'wiki-main' : 'jira-main'
    const path = `/rest/${random()}/${encodeURIComponent(random())}`
    const method = ['GET', 'POST', 'PATCH', 'OPTIONS'][i % 4] ?? 'GET'
    const jwt = h.callerToken(caller)
    jwts.push(jwt)
    sent.push(...[caller, integration, path].filter((value) => !['report-job', 'jira-main', 'wiki-main'].includes(value)))
    const res = await request(`${h.url}/proxy/${integration}${path}?q=${random()}`, {
      method: method as 'GET', headers: i % 5 === 0 ? { authorization: `Bearer garbage.${random()}` } : { authorization: `Bearer ${jwt}` }
    })
    await res.body.dump()
  }
  const text = await scrape(h)
  const samples = parseSamples(text)
  const allowed: Record<string, Set<string>> = {
    caller: new Set(['report-job', 'other', 'unauthenticated']),
    integration: new Set(['jira-main', 'wiki-main', 'unknown']),
    method: new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']),
    status_class: new Set(['1xx', '2xx', '3xx', '4xx', '5xx']),
    result: new Set(['ok', 'rejected', 'unavailable', 'error', 'hit', 'miss']),
    store: new Set(['file']),
    source: new Set(['caller_limit', 'quota_hold', 'upstream', 'other']),
    outcome: new Set(['applied', 'unchanged', 'rejected']),
    level: new Set(['warning', 'critical'])
  }
  const unbounded = samples.flatMap((sample) => Object.entries(sample.labels)
    .filter(([name, value]) => name !== 'le' && allowed[name]?.has(value) !== true)
    .map(([name, value]) => `${sample.name}{${name}="${value}"}`))
  t.same(unbounded, [], 'every label value is from the bounded set')
  const requestSeries = samples.filter((sample) => sample.name === 'atlassian_broker_requests_total').length
  t.ok(requestSeries <= 3 * 3 * 4 * 5, `requests_total has ${requestSeries} series`)
  t.same([...sent, ...jwts].filter((value) => text.includes(value)), [], 'nothing random a client sent appears in /metrics')
})

t.test('no secret (access token, caller JWT, client secret, caller key) appears in /metrics', async (t) => {
  const h = await startHarness(t)
  const jwt = h.callerToken('report-job')
  for (let i = 0; i < 3; i++) await (await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: { authorization: `Bearer ${jwt}` } })).body.dump()
  const text = await scrape(h)
  const accessTokens = h.fake.tokensOf(CLIENT_ID)
  t.ok(accessTokens.length > 0)
  for (const secret of [...accessTokens, jwt, CLIENT_SECRET, CALLER_SECRET, MASTER_KEY]) t.notOk(text.includes(secret), 'secret absent')
})

t.test('expiry timestamp: Unix seconds of the store metadata expires_at, read at most once a minute', async (t) => {
  const clock = new ManualClock()
  const h = await startHarness(t, { clock })
  const day = 86_400_000
  const tenAndAHalfDays = clock.now() + 10.5 * day
  await h.store.updateMetadata('jira-main', { expires_at: new Date(tenAndAHalfDays).toISOString() })
  await h.store.updateMetadata('wiki-main', { expires_at: 'not a date' })
  // The expiry watcher's read at start-up is this minute's read (one cache for every reader): the next minute sees
  // these.
  await clock.advance(60_000)
  let samples = parseSamples(await scrape(h))
  t.equal(sampleValue(samples, 'atlassian_broker_credential_expiry_timestamp_seconds', { integration: 'jira-main' }), tenAndAHalfDays / 1000)
  t.equal(sampleValue(samples, 'atlassian_broker_credential_expiry_timestamp_seconds', { integration: 'wiki-main' }), undefined, 'no parsable expiry: no series')

  const yesterday = clock.now() - day
  await h.store.updateMetadata('jira-main', { expires_at: new Date(yesterday).toISOString() })
  await clock.advance(30_000)
  samples = parseSamples(await scrape(h))
  t.equal(sampleValue(samples, 'atlassian_broker_credential_expiry_timestamp_seconds', { integration: 'jira-main' }), tenAndAHalfDays / 1000, 'within the minute the cached expiry is used')
  await clock.advance(30_000)
  samples = parseSamples(await scrape(h))
  t.equal(sampleValue(samples, 'atlassian_broker_credential_expiry_timestamp_seconds', { integration: 'jira-main' }), yesterday / 1000, 'a minute later the store is read again')
})

t.test('one expiry owner: /metrics and /admin/integrations agree, and an admin read refreshes the gauge', async (t) => {
  const clock = new ManualClock()
  const h = await startAdminHarness(t, 'file', { clock })
  const day = 86_400_000
  await h.store.updateMetadata('jira-main', { expires_at: new Date(clock.now() + 20 * day).toISOString() })
  parseSamples(await scrape(h))
  const later = clock.now() + 3 * day
  await h.store.updateMetadata('jira-main', { expires_at: new Date(later).toISOString() })
  const admin = await h.admin('GET', '/admin/integrations/jira-main')
  t.equal(admin.statusCode, 200)
  t.match(admin.body, { expiresAt: new Date(later).toISOString(), daysToExpiry: 3 })
  const samples = parseSamples(await scrape(h))
  t.equal(sampleValue(samples, 'atlassian_broker_credential_expiry_timestamp_seconds', { integration: 'jira-main' }), later / 1000, 'the gauge shows what the admin view read, within the same minute')
})

t.test('secret store errors are counted by store; a rejected exchange by result', async (t) => {
  const logger = createLogger({ level: 'silent' })
  const dir = t.testdir({})
  const inner = await createFileStore({ path: `${dir}/secrets.enc`, masterKey: MASTER_KEY, logger })
  let storeDown = false
  const store: SecretStore = {
    kind: inner.kind,
    get: async (integration, version) => {
      if (storeDown) throw new SecretStoreUnavailableError()
      return inner.get(integration, version)
    },
    currentVersion: (integration) => inner.currentVersion(integration),
    put: (integration, data, options) => inner.put(integration, data, options),
    list: () => inner.list(),
    history: (integration) => inner.history(integration),
    metadata: (integration) => inner.metadata(integration),
    updateMetadata: (integration, metadata) => inner.updateMetadata(integration, metadata),
    health: () => inner.health(),
    close: () => inner.close()
  }
  const h = await startHarness(t, { store, config: { policy: POLICY } })
  const jwt = h.callerToken('report-job')
  storeDown = true
  const failed = await request(`${h.url}/proxy/wiki-main/wiki/rest/api/user/current`, { headers: { authorization: `Bearer ${jwt}` } })
  t.equal(failed.statusCode, 503)
  t.equal(((await failed.body.json()) as { code: string }).code, 'BROKER_ERR_SECRET_STORE_UNAVAILABLE')
  storeDown = false
  h.fake.setNextResponses((r) => r.endpoint === 'token', [json(401, { error: 'access_denied', error_description: 'Unauthorized' })])
  await (await request(`${h.url}/proxy/jira-main/rest/api/3/myself`, { headers: { authorization: `Bearer ${jwt}` } })).body.dump()
  const samples = parseSamples(await scrape(h))
  t.equal(sampleValue(samples, 'atlassian_broker_secret_store_errors_total', { store: 'file' }), 1)
  t.equal(sampleValue(samples, 'atlassian_broker_token_exchanges_total', { integration: 'jira-main', result: 'rejected' }), 1)
  t.equal(sampleValue(samples, 'atlassian_broker_token_exchanges_total', { integration: 'jira-main', result: 'ok' }), 0)
})
