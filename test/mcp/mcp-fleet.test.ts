/**
 * Fleet mode changes nothing for tools: two brokers on one real redis-server, a `scope: fleet` rate limit on the
 * agent's search rule, and tool calls through both: together they get the fleet's burst, not one burst each.
 */
import t from 'tap'
import { JIRA_CLOUD_ID, WIKI_CLOUD_ID, type Harness } from '../helpers/broker-harness.js'
import { FakeAtlassian } from '../helpers/fake-atlassian.js'
import { findRedisServer, RedisServer } from '../helpers/redis-server.js'
import { callTool, connect, restCalls, startMcpHarness, textOf } from './mcp-harness.js'

const skip = findRedisServer() === undefined ? 'redis-server is not installed (.ci/run installs it)' : false
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

t.test('tool calls count against a fleet-wide rate limit like any call', { skip }, async (t) => {
  const redis = await RedisServer.start(t)
  const fake = await FakeAtlassian.start({ t, sites: [{ product: 'jira', cloudId: JIRA_CLOUD_ID }, { product: 'confluence', cloudId: WIKI_CLOUD_ID }] })
  const policy = [
    { caller: 'agent', integration: 'jira-main', methods: ['POST'], paths: ['/rest/api/3/search/jql'], rateLimit: { perSecond: 0.001, burst: 2, scope: 'fleet' } }
  ]
  const brokers: Harness[] = []
  for (const pod of ['pod-a', 'pod-b']) {
    const h = await startMcpHarness(t, { fake, config: { policy, fleet: { redis: { url: redis.url, keyPrefix: 'mcp' }, podName: pod } } })
    for (let tries = 0; tries < 200 && h.broker.fleet?.link.connected !== true; tries++) await sleep(20)
    t.equal(h.broker.fleet?.link.connected, true, `${pod} reached Redis`)
    brokers.push(h)
  }
  const clients = await Promise.all(brokers.map(async (h) => await connect(t, h, 'agent')))
  const outcomes: string[] = []
  for (let round = 0; round < 3; round++) {
    for (const client of clients) {
      const result = await callTool(client, 'jira_search_issues', { jql: 'project = X' })
      outcomes.push(result.isError === true ? textOf(result).split(':')[0] ?? '' : 'ok')
    }
  }
  t.equal(outcomes.filter((outcome) => outcome === 'ok').length, 2, `the fleet's burst of 2 in all (${outcomes.join(', ')})`)
  t.ok(outcomes.filter((outcome) => outcome !== 'ok').every((outcome) => outcome === 'BROKER_ERR_CALLER_RATE_LIMITED'))
  t.equal(restCalls(brokers[0] as Harness).length, 2, 'Atlassian saw two searches from the two pods together')
})
