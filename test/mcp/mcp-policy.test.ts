/**
 * The same policy, nothing new to trust: tools/list shows a caller only what its policy allows; a call refused anyway
 * is a tool error naming the missing rule; caller limits, Atlassian's 429 and the quota hold reach the agent with the
 * wait; bad JSON-RPC gets JSON-RPC errors and the broker carries on; sessions end on DELETE and at the caller's cap.
 */
import t from 'tap'
import { JIRA_CLOUD_ID, rawRequest } from '../helpers/broker-harness.js'
import { rateLimited } from '../helpers/fake-atlassian.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { callTool, connect, MCP_POLICY, restCalls, startMcpHarness, textOf } from './mcp-harness.js'

const READ_TOOLS = [
  'confluence_get_page', 'confluence_list_spaces', 'confluence_search',
  'jira_get_issue', 'jira_list_projects', 'jira_list_transitions', 'jira_search_issues'
]

t.test('a read-only caller sees no write tool; a call its policy refuses is a tool error naming the rule', async (t) => {
  const h = await startMcpHarness(t, {
    config: {
      policy: [
        ...MCP_POLICY,
        { caller: 'narrow', integration: 'jira-main', methods: ['GET'], paths: ['/rest/api/3/issue/PROJ-*', '/rest/api/3/issue/PROJ-*/comment'] }
      ]
    }
  })
  h.fake.addIssue(JIRA_CLOUD_ID, { projectKey: 'OPS', summary: 'not for narrow' })
  const reader = await connect(t, h, 'reader')
  const names = (await reader.listTools()).tools.map((tool) => tool.name).sort()
  t.same(names, READ_TOOLS, 'only the read tools')
  const all = (await (await connect(t, h, 'agent')).listTools()).tools
  t.equal(all.length, 14, 'the agent sees all 14 tools')
  t.ok(all.every((tool) => tool.annotations?.readOnlyHint === READ_TOOLS.includes(tool.name)), 'readOnlyHint is true exactly for reads')

  h.fake.reset()
  const unlisted = await callTool(reader, 'jira_create_issue', { projectKey: 'OPS', summary: 'x' })
  t.equal(unlisted.isError, true, 'an unlisted tool cannot be called')
  t.match(textOf(unlisted), /jira_create_issue not found/)

  const narrow = await connect(t, h, 'narrow')
  t.same((await narrow.listTools()).tools.map((tool) => tool.name), ['jira_get_issue'])
  const refused = await callTool(narrow, 'jira_get_issue', { issueKey: 'OPS-1' })
  t.equal(refused.isError, true)
  t.match(textOf(refused), /^BROKER_ERR_POLICY_DENIED: Policy denies GET \/rest\/api\/3\/issue\/OPS-1 on integration "jira-main" for caller "narrow" \(no path rule matches\)\. Ask the broker's operator for a policy rule/)
  t.match(refused.structuredContent, { status: 403, code: 'BROKER_ERR_POLICY_DENIED' })
  t.same(restCalls(h), [], 'nothing refused reached Atlassian')
})

t.test('caller limits, Atlassian\'s 429 and the quota hold become tool errors with the wait', async (t) => {
  const clock = new ManualClock()
  const h = await startMcpHarness(t, {
    clock,
    config: {
      policy: [
        { caller: 'agent', integration: 'jira-main', methods: ['GET', 'POST'], paths: ['/rest/api/3/**'] },
        { caller: 'limited', integration: 'jira-main', methods: ['POST'], paths: ['/rest/api/3/search/jql'], rateLimit: { perSecond: 0.01, burst: 1 } }
      ]
    }
  })
  const limited = await connect(t, h, 'limited')
  t.notOk((await callTool(limited, 'jira_search_issues', { jql: 'project = OPS' })).isError, 'the burst allows one')
  const over = await callTool(limited, 'jira_search_issues', { jql: 'project = OPS' })
  t.match(textOf(over), /^BROKER_ERR_CALLER_RATE_LIMITED: .*Retry after \d+ seconds\.$/)
  t.match(over.structuredContent, { status: 429, code: 'BROKER_ERR_CALLER_RATE_LIMITED', retryAfterSeconds: Number })

  const agent = await connect(t, h, 'agent')
  h.fake.reset()
  h.fake.setNextResponses((r) => r.endpoint === 'gateway', [
    rateLimited({ retryAfterSeconds: 120, reason: 'jira-quota-global-based', limit: 65_000, resetAt: new Date(clock.now() + 120_000) })
  ])
  const atlassian429 = await callTool(agent, 'jira_list_projects', {})
  t.match(textOf(atlassian429), /^Atlassian answered 429\. Retry after 120 seconds\.$/)
  t.match(atlassian429.structuredContent, { status: 429, retryAfterSeconds: 120 })
  const held = await callTool(agent, 'jira_list_projects', {})
  t.match(textOf(held), /^BROKER_ERR_UPSTREAM_RATE_LIMITED: .*Retry after 120 seconds\.$/, 'held by the quota hold')
  t.equal(restCalls(h).length, 1, 'the held call never reached Atlassian')
  const metrics = await h.broker.usage.metrics?.text() ?? ''
  t.match(metrics, /atlassian_broker_rate_limited_responses_total\{caller="agent",integration="jira-main",source="quota_hold"\} 1/)
  t.match(metrics, /atlassian_broker_tool_calls_total\{caller="limited",integration="jira-main",tool="jira_search_issues",status_class="4xx"\} 1/)
})

t.test('bad JSON-RPC gets JSON-RPC errors, and the broker carries on', async (t) => {
  const h = await startMcpHarness(t)
  const token = h.callerToken('agent')
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
  const post = async (
    body: string,
    extra: Record<string, string> = {}
  ): Promise<{ statusCode: number, body: string }> => {
    const { Client } = await import('undici')
    const client = new Client(h.url)
    try {
      const response = await client.request({ path: '/mcp', method: 'POST', headers: { ...headers, ...extra }, body })
      return { statusCode: response.statusCode, body: await response.body.text() }
    } finally {
      await client.close()
    }
  }
  const notJson = await post('{"jsonrpc": "2.0", "method": ')
  t.equal(notJson.statusCode, 400)
  t.match(JSON.parse(notJson.body), { jsonrpc: '2.0', error: { code: -32700 } }, 'parse error')
  const notInitialize = await post(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }))
  t.equal(notInitialize.statusCode, 400, 'a session starts with initialize')
  t.match(JSON.parse(notInitialize.body), { jsonrpc: '2.0', error: { code: Number } })

  const client = await connect(t, h, 'agent', token)
  const sessionId = (client.transport as { sessionId?: string }).sessionId ?? ''
  const inSession = { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' }
  const unknownMethod = await post(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'no/such/method' }), inSession)
  t.match(unknownMethod.body, /"code":-32601/, 'method not found')
  const badVersion = await post(JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'tools/list' }), { ...inSession, 'mcp-protocol-version': '1999-01-01' })
  t.equal(badVersion.statusCode, 400, 'the SDK checks MCP-Protocol-Version')
  const badArguments = await client.callTool({ name: 'jira_get_issue', arguments: { issueKey: 42 } }).catch((error: Error) => ({ isError: true, content: [{ type: 'text', text: error.message }] }))
  t.equal(badArguments.isError, true, 'arguments against the input schema are refused')
  t.equal((await client.listTools()).tools.length, 14, 'the session still works')

  await (client.transport as unknown as { terminateSession: () => Promise<void> }).terminateSession()
  const ended = await post(JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list' }), inSession)
  t.equal(ended.statusCode, 404, 'DELETE ended the session')
  t.equal((await rawRequest(h.url, '/healthz')).statusCode, 200)
})

t.test('a caller keeps at most maxSessionsPerCaller sessions: its oldest closes', async (t) => {
  const h = await startMcpHarness(t, { config: { mcp: { enabled: true, maxSessionsPerCaller: 2 } } })
  const oldest = await connect(t, h, 'agent')
  const middle = await connect(t, h, 'agent')
  const other = await connect(t, h, 'reader')
  await connect(t, h, 'agent')
  await t.rejects(oldest.listTools(), 'the oldest session of the caller is gone')
  t.ok((await middle.listTools()).tools.length > 0)
  t.ok((await other.listTools()).tools.length > 0, 'another caller\'s sessions are not touched')
})
