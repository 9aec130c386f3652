import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { loadConfig } from '../../src/config/load.js'
import { createLogger } from '../../src/logger.js'
import { createFileStore } from '../../src/secrets/file/file-store.js'
import { startServer } from '../../src/server.js'
import { createBroker } from '../../src/broker.js'
import { ConfigReloader } from '../../src/config/reload.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { CALLER_SECRET, CLIENT_ID, CLIENT_SECRET, JIRA_CLOUD_ID, WIKI_CLOUD_ID, memoryLogStream } from '../helpers/broker-harness.js'
import { FakeAtlassian, streamSha256 } from '../helpers/fake-atlassian.js'
import { createSigner } from 'fast-jwt'

const SITE = 'acme.atlassian.net'

function configText (fake: FakeAtlassian, integrations: string, policy: string): string {
  return `# reload test
listen: { host: 127.0.0.1, port: 0 }
dataDir: ./data
callers: { jwt: { hs256Secret: "${CALLER_SECRET}" } }
atlassian: { tokenUrl: ${fake.tokenUrl}, apiUrl: ${fake.url}, siteUrl: "${fake.siteUrl}" }
secrets: { store: file, file: { path: ./data/secrets.enc } }
integrations:
${integrations}
policy:
${policy}
`
}

t.test('a reload adds an integration and its policy, refuses a bad file, and never drops a streaming call in flight', async (t) => {
  const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }, { product: 'confluence', cloudId: WIKI_CLOUD_ID }] })
  fake.addClient(CLIENT_ID, CLIENT_SECRET)
  fake.setSiteName(SITE, WIKI_CLOUD_ID)
  const dir = t.testdir({ data: {} })
  const file = path.join(dir, 'atlassian-broker.yaml')
  const jiraOnly = '  jira-main: { product: jira, cloudId: ' + JIRA_CLOUD_ID + ' }'
  const jiraRule = '  - { caller: report-job, integration: jira-main, methods: [GET], paths: ["/**"] }'
  writeFileSync(file, configText(fake, jiraOnly, jiraRule))
  const loaded = loadConfig(file, {})
  const store = await createFileStore({ path: loaded.config.secrets.file.path, logger: createLogger({ level: 'silent' }) })
  await store.put('jira-main', { client_id: CLIENT_ID, client_secret: CLIENT_SECRET })
  await store.put('wiki-main', { client_id: CLIENT_ID, client_secret: CLIENT_SECRET })
  await store.close()
  const logs: string[] = []
  const server = await startServer(loaded, createLogger({ level: 'info', destination: memoryLogStream(logs) }))
  t.teardown(() => server.stop())
  const token = createSigner({ key: CALLER_SECRET, algorithm: 'HS256', expiresIn: 600_000 })({ sub: 'report-job', aud: 'atlassian-broker' })
  const auth = { authorization: `Bearer ${token}` }
  const ready = async (): Promise<{ config: { hash: string, reloads: number } }> => await (await request(`${server.url}/readyz`)).body.json() as { config: { hash: string, reloads: number } }
  const firstHash = (await ready()).config.hash

  t.equal((await request(`${server.url}/proxy/wiki-main/wiki/api/v2/spaces`, { headers: auth })).statusCode, 404, 'not configured yet')

  // A download starts on the old config and is held by backpressure while the config changes under it.
  const size = 8 * 1024 * 1024
  const download = await request(`${server.url}/proxy/jira-main/rest/api/3/attachment/content/stream/${size}`, { headers: auth })
  t.equal(download.statusCode, 200)
  const iterator = download.body[Symbol.asyncIterator]()
  const hash = createHash('sha256')
  const first = await iterator.next()
  hash.update(first.value as Buffer)
  let received = (first.value as Buffer).length

  // The new file drops jira-main altogether and adds a site-named integration with its rule.
  writeFileSync(file, configText(fake, `  wiki-main: { product: confluence, site: ${SITE} }`, '  - { caller: report-job, integration: wiki-main, methods: [GET], paths: ["/**"] }'))
  const applied = await server.reloader?.reload()
  // The policy and the removal apply at once; the integration named by site once its site is resolved.
  t.same(applied?.outcome === 'applied' && applied.changes, [
    'integration jira-main removed',
    'rule added: report-job → wiki-main GET /**',
    'rule removed: report-job → jira-main GET /**',
    'integration wiki-main added'
  ])
  t.ok(logs.some((line) => line.includes('config reloaded: integration wiki-main added')), 'the change is logged')

  t.equal((await request(`${server.url}/proxy/wiki-main/wiki/api/v2/spaces`, { headers: auth })).statusCode, 200, 'the new integration serves')
  const gone = await request(`${server.url}/proxy/jira-main/rest/api/3/myself`, { headers: auth })
  t.equal(gone.statusCode, 404, 'a new call to the removed integration is refused')
  await gone.body.dump()

  for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) {
    hash.update(next.value as Buffer)
    received += (next.value as Buffer).length
  }
  t.equal(received, size, 'the in-flight download finished on the old config')
  t.equal(hash.digest('hex'), streamSha256(size))

  const afterApply = await ready()
  t.not(afterApply.config.hash, firstHash)
  t.equal(afterApply.config.reloads, 1)

  writeFileSync(file, configText(fake, '  wiki-main: { product: confluence }\n  bad: { product: bitbucket, cloudId: nope }', '  - { caller: report-job, integration: missing, methods: [GET], paths: ["/**"] }'))
  const refused = await server.reloader?.reload()
  t.equal(refused?.outcome, 'rejected')
  t.ok(refused?.outcome === 'rejected' && refused.problems.length >= 3, `every problem listed: ${JSON.stringify(refused)}`)
  t.ok(logs.some((line) => line.includes('config reload refused') && line.includes('\\"missing\\" is not defined under integrations')), 'the problems are logged')
  t.equal((await request(`${server.url}/proxy/wiki-main/wiki/api/v2/spaces`, { headers: auth })).statusCode, 200, 'the old config keeps serving')
  t.equal((await ready()).config.hash, afterApply.config.hash)

  const metrics = await (await request(`${server.url}/metrics`)).body.text()
  t.match(metrics, 'atlassian_broker_config_reload_total{outcome="applied"} 1')
  t.match(metrics, 'atlassian_broker_config_reload_total{outcome="rejected"} 1')
})

t.test('regression: a reload resolved sites and stamped its time off the broker\'s clock (server.ts built its own options)', async (t) => {
  const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }, { product: 'confluence', cloudId: WIKI_CLOUD_ID }] })
  fake.setSiteName(SITE, WIKI_CLOUD_ID)
  const dir = t.testdir({ data: {} })
  const file = path.join(dir, 'atlassian-broker.yaml')
  const jiraOnly = '  jira-main: { product: jira, cloudId: ' + JIRA_CLOUD_ID + ' }'
  const rule = '  - { caller: report-job, integration: "*", methods: [GET], paths: ["/**"] }'
  writeFileSync(file, configText(fake, jiraOnly, rule))
  const clock = new ManualClock(Date.parse('2026-11-23T12:00:00Z'))
  const logger = createLogger({ level: 'silent' })
  const broker = await createBroker(loadConfig(file, {}).config, { logger, clock })
  t.teardown(() => broker.close())
  const reloader = new ConfigReloader({ file, live: broker.live, running: broker.config, logger, ...broker.reloading })
  const newRule = '  - { caller: new-job, integration: wiki-main, methods: [GET], paths: ["/**"] }'
  writeFileSync(file, configText(fake, `${jiraOnly}\n  wiki-main: { product: confluence, site: ${SITE} }`, `${rule}\n${newRule}`))
  await clock.advance(90_000)
  t.equal(broker.usage.labels.caller('new-job'), 'other', 'before the reload: not a configured caller')
  t.equal((await reloader.reload()).outcome, 'applied')
  t.equal(broker.live.integrations['wiki-main']?.cloudId, WIKI_CLOUD_ID, 'the site was resolved')
  t.equal(broker.live.state.loadedAt, '2026-11-23T12:01:30.000Z', 'the reload\'s time is the broker\'s clock, not the wall')
  // Regression (issue 24 §4): names a reload added were counted as other / unknown, and expiry ignored them.
  t.equal(broker.usage.labels.caller('new-job'), 'new-job', 'a caller added by the reload is counted by name')
  t.equal(broker.usage.labels.integration('wiki-main'), 'wiki-main', 'an integration added by the reload too')
})

t.test('regression (issue 24 §4): a reload is audited as what it changed, and a refused one with its problems', async (t) => {
  const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }] })
  const dir = t.testdir({ data: {} })
  const file = path.join(dir, 'atlassian-broker.yaml')
  const auditFile = path.join(dir, 'audit.jsonl')
  const jiraOnly = '  jira-main: { product: jira, cloudId: ' + JIRA_CLOUD_ID + ' }'
  const narrow = '  - { caller: report-job, integration: jira-main, methods: [GET], paths: ["/rest/api/3/myself"] }'
  const withAudit = (text: string): string =>
    text.replace(`callers: { jwt: { hs256Secret: "${CALLER_SECRET}" } }`, `callers: { jwt: { hs256Secret: "${CALLER_SECRET}" }, admin: { role: broker-admin, auditFile: ${auditFile} } }`)
  writeFileSync(file, withAudit(configText(fake, jiraOnly, narrow)))
  const logger = createLogger({ level: 'silent' })
  const broker = await createBroker(loadConfig(file, {}).config, { logger })
  t.teardown(() => broker.close())
  const reloader = new ConfigReloader({ file, live: broker.live, running: broker.config, logger, ...broker.reloading })
  const records = (): Array<Record<string, unknown>> => {
    let text = ''
    try { text = readFileSync(auditFile, 'utf8') } catch { return [] }
    return text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>)
  }
  // The file is written through a stream: wait (bounded by count, not time) until it holds `count` records.
  const written = async (count: number): Promise<Array<Record<string, unknown>>> => {
    for (let i = 0; i < 500 && records().length < count; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    return records()
  }

  t.equal((await reloader.reload()).outcome, 'unchanged')
  t.same(records(), [], 'an unchanged file changes no access: nothing audited')

  writeFileSync(file, withAudit(configText(fake, jiraOnly, narrow.replace('"/rest/api/3/myself"', '"/**"'))))
  t.equal((await reloader.reload()).outcome, 'applied')
  const [widened] = await written(1)
  t.match(widened, { type: 'config-reload', actor: 'config-file', file, outcome: 'ok', problems: [] })
  t.match((widened?.changes as string[]).join('\n'), /widened/, 'the record says the rule was widened, not a count')

  writeFileSync(file, withAudit(configText(fake, jiraOnly, narrow)).replace('policy:', 'policy: [oops'))
  t.equal((await reloader.reload()).outcome, 'rejected')
  const refused = (await written(2))[1]
  t.match(refused, { type: 'config-reload', outcome: 'refused', changes: [] })
  t.ok((refused?.problems as string[]).length > 0, 'the refusal names its problems')
})
