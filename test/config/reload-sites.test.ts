/**
 * Site lookups on reload (issue 24 §4) against a real tenant_info server on loopback: a slow or dead site never holds
 * a policy change or a later reload, each lookup has a deadline and a size cap, sites are asked at once, only new
 * or changed integrations are looked up, and a site answering another cloudId is warned about, not followed.
 */
import { writeFileSync } from 'node:fs'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import t, { type Test } from 'tap'
import { resolveSitesOutcome } from '../../src/atlassian/site-resolver.js'
import { LiveConfig } from '../../src/config/live-config.js'
import { loadConfig, parseConfig, requireCloudIds } from '../../src/config/load.js'
import { ConfigReloader } from '../../src/config/reload.js'
import type { ParsedConfig } from '../../src/config/schema.js'
import { createLogger } from '../../src/logger.js'
import { memoryLogStream } from '../helpers/broker-harness.js'

const JIRA = '11111111-1111-1111-1111-111111111111'
const WIKI = '22222222-2222-2222-2222-222222222222'
const OTHER = '33333333-3333-3333-3333-333333333333'

type Behaviour = 'answer' | 'hold' | 'huge' | 'gather'

/** tenant_info on loopback: per site, answer its cloudId, hold the request, answer 1 MiB, or hold until `gather`
 *  requests are in hand. Counts requests per site. */
async function tenantInfo (t: Test, cloudIds: Record<string, string>) {
  const behaviour = new Map<string, Behaviour>()
  const hits = new Map<string, number>()
  const held: Array<{ site: string, response: ServerResponse }> = []
  let gather = 0
  const waiters: Array<() => void> = []
  const answer = (site: string, response: ServerResponse): void => {
    response.setHeader('content-type', 'application/json')
    response.end(JSON.stringify({ cloudId: cloudIds[site] }))
  }
  const server = createServer((request, response) => {
    const site = (request.url ?? '').split('/')[1] ?? ''
    hits.set(site, (hits.get(site) ?? 0) + 1)
    const mode = behaviour.get(site) ?? 'answer'
    if (mode === 'huge') {
      response.setHeader('content-type', 'application/json')
      response.end(`{"cloudId":"${cloudIds[site]}","padding":"${'x'.repeat(1024 * 1024)}"}`)
    } else if (mode === 'answer') {
      answer(site, response)
    } else {
      held.push({ site, response })
      if (mode === 'gather' && held.length >= gather) for (const entry of held.splice(0)) answer(entry.site, entry.response)
    }
    for (const waiter of waiters.splice(0)) waiter()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return {
    siteUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/{site}`,
    set: (site: string, mode: Behaviour, count = 0) => { behaviour.set(site, mode); gather = count },
    hits: (site: string) => hits.get(site) ?? 0,
    held: () => held.length,
    /** Resolves once the server has had `count` requests for `site`. */
    seen: async (site: string, count = 1): Promise<void> => {
      while ((hits.get(site) ?? 0) < count) await new Promise<void>((resolve) => waiters.push(resolve))
    },
    release: () => { for (const site of behaviour.keys()) behaviour.set(site, 'answer'); for (const entry of held.splice(0)) answer(entry.site, entry.response) }
  }
}

const rule = (caller: string, integration: string): string => `  - { caller: ${caller}, integration: ${integration}, methods: [GET], paths: ["/**"] }`

function setup (t: Test, siteUrl: string, timeoutMs = 5_000) {
  const dir = t.testdir({ data: {} })
  const file = path.join(dir, 'atlassian-broker.yaml')
  const write = (integrations: string[], policy: string[]): void => {
    writeFileSync(file, `dataDir: ./data\natlassian: { siteUrl: "${siteUrl}" }\nintegrations:\n  jira-main: { product: jira, cloudId: ${JIRA} }\n` +
      integrations.map((line) => `  ${line}\n`).join('') + `policy:\n${policy.join('\n')}\n`)
  }
  write([], [rule('old-job', 'jira-main')])
  const running = requireCloudIds(loadConfig(file, {}).config)
  const live = new LiveConfig(running.integrations, running.policy, () => new Date())
  const logs: string[] = []
  const logger = createLogger({ level: 'info', destination: memoryLogStream(logs) })
  const resolveSites = async (config: ParsedConfig, log: typeof logger) =>
    await resolveSitesOutcome(config, { logger: log, timeoutMs })
  const reloader = new ConfigReloader({ file, live, running, logger, env: {}, resolveSites })
  return { write, live, reloader, logs, callers: () => live.policyRules.map((entry) => entry.caller) }
}

t.test('regression: a slow tenant_info held a revocation and every later reload behind it', async (t) => {
  const sites = await tenantInfo(t, { 'slow.atlassian.net': WIKI })
  sites.set('slow.atlassian.net', 'hold')
  const { write, live, reloader, callers } = setup(t, sites.siteUrl)
  write(['wiki-main: { product: confluence, site: slow.atlassian.net }'], [rule('new-job', 'jira-main'), rule('new-job', 'wiki-main')])
  const first = reloader.reload()
  await sites.seen('slow.atlassian.net')
  t.same(callers(), ['new-job', 'new-job'], 'old-job is revoked while the site lookup is still out')
  t.notOk(Object.hasOwn(live.integrations, 'wiki-main'), 'the integration waits for its site')
  write(['wiki-main: { product: confluence, site: slow.atlassian.net }'], [rule('new-job', 'wiki-main')])
  const second = reloader.reload()
  await sites.seen('slow.atlassian.net', 2)
  t.same(callers(), ['new-job'], 'a later reload applied while the first lookup is still held')
  t.equal(sites.held(), 2, 'both lookups still unanswered')
  sites.release()
  t.match(await first, { outcome: 'applied', changes: [/rule added/, /rule added/, 'rule removed: old-job → jira-main GET /**', 'integration wiki-main added'] })
  t.match(await second, { outcome: 'applied' })
  t.equal(live.integrations['wiki-main']?.cloudId, WIKI)
})

t.test('a dead site: its lookup ends at its deadline, the rest of the file applies, the problem is logged', async (t) => {
  const sites = await tenantInfo(t, {})
  sites.set('dead.atlassian.net', 'hold')
  const { write, live, reloader, logs, callers } = setup(t, sites.siteUrl, 200)
  write(['wiki-main: { product: confluence, site: dead.atlassian.net }'], [rule('new-job', 'jira-main')])
  const outcome = await reloader.reload()
  t.equal(sites.hits('dead.atlassian.net'), 1)
  t.match(outcome, { outcome: 'applied', problems: [/dead\.atlassian\.net \(GET http:\/\/127\.0\.0\.1:\d+\/dead\.atlassian\.net\/_edge\/tenant_info did not answer within 200 ms\)/] })
  t.same(callers(), ['new-job'])
  t.notOk(Object.hasOwn(live.integrations, 'wiki-main'))
  t.ok(logs.some((line) => line.includes('not applied (their sites did not resolve)')))
})

t.test('regression: a huge tenant_info answer is refused at the cap, not buffered', async (t) => {
  const sites = await tenantInfo(t, { 'huge.atlassian.net': WIKI })
  sites.set('huge.atlassian.net', 'huge')
  const { write, live, reloader } = setup(t, sites.siteUrl)
  write(['wiki-main: { product: confluence, site: huge.atlassian.net }'], [rule('old-job', 'jira-main')])
  const outcome = await reloader.reload()
  t.match(outcome, { outcome: 'rejected', problems: [/huge\.atlassian\.net\/_edge\/tenant_info answered with more than 16384 bytes/] }, 'nothing else changed: refused')
  t.notOk(Object.hasOwn(live.integrations, 'wiki-main'))
})

t.test('regression: sites were asked one after another; they are asked at once', async (t) => {
  const names = ['a', 'b', 'c', 'd']
  const sites = await tenantInfo(t, Object.fromEntries(names.map((name, index) => [`${name}.atlassian.net`, `4444444${index}-4444-4444-8444-444444444444`])))
  // Each request is held until all four are in hand: one after another, none would ever be answered.
  for (const name of names) sites.set(`${name}.atlassian.net`, 'gather', 4)
  const { write, live, reloader } = setup(t, sites.siteUrl, 2_000)
  write(names.map((name) => `${name}-main: { product: jira, site: ${name}.atlassian.net }`), [rule('old-job', 'jira-main')])
  const outcome = await reloader.reload()
  t.match(outcome, { outcome: 'applied', problems: [] })
  t.same(Object.keys(live.integrations).sort(), ['a-main', 'b-main', 'c-main', 'd-main', 'jira-main'])
})

t.test('only new or changed integrations are looked up again', async (t) => {
  const sites = await tenantInfo(t, { 'wiki.atlassian.net': WIKI })
  const { write, reloader, callers } = setup(t, sites.siteUrl)
  write(['wiki-main: { product: confluence, site: wiki.atlassian.net }'], [rule('old-job', 'jira-main')])
  t.equal((await reloader.reload()).outcome, 'applied')
  t.equal(sites.hits('wiki.atlassian.net'), 1)
  write(['wiki-main: { product: confluence, site: wiki.atlassian.net }'], [rule('new-job', 'wiki-main')])
  t.equal((await reloader.reload()).outcome, 'applied')
  t.same(callers(), ['new-job'])
  t.equal(sites.hits('wiki.atlassian.net'), 1, 'an unchanged integration keeps its cloudId without a lookup')
})

t.test('a site that answers another cloudId than the cached one is warned about and not followed', async (t) => {
  const sites = await tenantInfo(t, { 'acme.atlassian.net': OTHER })
  const dataDir = t.testdir({ 'sites.json': JSON.stringify({ 'acme.atlassian.net': { cloudId: WIKI, resolvedAt: '2026-01-01T00:00:00Z' } }) })
  const logs: string[] = []
  const logger = createLogger({ level: 'info', destination: memoryLogStream(logs) })
  const config = (cloudId?: string): ParsedConfig => parseConfig({
    dataDir,
    atlassian: { siteUrl: sites.siteUrl },
    integrations: { 'wiki-main': { product: 'confluence', site: 'acme.atlassian.net', ...(cloudId === undefined ? {} : { cloudId }) } }
  }, 'test', {})
  const kept = await resolveSitesOutcome(config(), { logger })
  t.equal(kept.config.integrations['wiki-main']?.cloudId, WIKI, 'the known cloudId is kept')
  t.ok(logs.some((line) => line.includes('now answers another cloudId') && line.includes(OTHER)), 'and the new answer is warned about')
  const accepted = await resolveSitesOutcome(config(OTHER), { logger })
  t.equal(accepted.config.integrations['wiki-main']?.cloudId, OTHER, 'naming the new cloudId in the config accepts it')
  t.same(accepted.problems, [])
})
