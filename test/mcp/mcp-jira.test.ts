/**
 * `/mcp` over real HTTP with the official SDK client, in front of the fake Atlassian: authentication as on `/proxy`,
 * sessions, and every Jira tool (the REST calls it makes, what it returns, paging), each call recorded with its tool.
 */
import { readFileSync } from 'node:fs'
import t from 'tap'
import { request } from 'undici'
import { CALLER_SECRET, CLIENT_SECRET, JIRA_CLOUD_ID, rawRequest } from '../helpers/broker-harness.js'
import { callTool, connect, restCalls, startMcpHarness, textOf } from './mcp-harness.js'
import { usageFigures } from '../../src/usage/tally-cell.js'

const adf = (text: string): Record<string, unknown> => ({
  type: 'doc',
  version: 1,
  content: [{ type: 'paragraph', content: [{ type: 'text', text: 'Plain and ' }, { type: 'text', text, marks: [{ type: 'strong' }] }] }]
})

t.test('no caller token: 401 with WWW-Authenticate, as on /proxy; /mcp is off unless enabled', async (t) => {
  const h = await startMcpHarness(t)
  const refused = await rawRequest(h.url, '/mcp', { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' } })
  t.equal(refused.statusCode, 401)
  t.match(refused.headers['www-authenticate'], /^Bearer /)
  t.match(JSON.parse(refused.body), { code: 'BROKER_ERR_CALLER_UNAUTHENTICATED' })

  const { startHarness } = await import('../helpers/broker-harness.js')
  const off = await startHarness(t)
  const missing = await rawRequest(off.url, '/mcp', { method: 'POST', headers: { authorization: `Bearer ${off.callerToken('agent')}` } })
  t.equal(missing.statusCode, 404, 'no /mcp route without mcp.enabled')
})

t.test('a session belongs to its caller: another caller cannot use its id', async (t) => {
  const h = await startMcpHarness(t)
  const client = await connect(t, h, 'agent')
  await client.listTools()
  const transport = client.transport as { sessionId?: string } | undefined
  const sessionId = transport?.sessionId
  t.type(sessionId, 'string', 'the SDK session id (Mcp-Session-Id)')
  const stolen = await rawRequest(h.url, '/mcp', {
    method: 'POST',
    headers: {
      authorization: `Bearer ${h.callerToken('reader')}`,
      'mcp-session-id': sessionId ?? '',
      'mcp-protocol-version': '2025-11-25',
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream'
    }
  })
  t.equal(stolen.statusCode, 404, 'another caller is told the session does not exist')
  t.equal(h.broker.app.server.listening, true)
})

t.test('the Jira tools: REST calls, Markdown, paging, structuredContent; usage names the tool', async (t) => {
  const dir = t.testdir({})
  const h = await startMcpHarness(t, {
    config: {
      usage: { auditFile: `${dir}/calls.jsonl` },
      callers: { jwt: { audience: 'atlassian-broker', hs256Secret: CALLER_SECRET }, admin: { role: 'broker-admin' } }
    }
  })
  h.fake.addIssue(JIRA_CLOUD_ID, { projectKey: 'OPS', summary: 'first', fields: { description: adf('important') as never } })
  h.fake.addIssue(JIRA_CLOUD_ID, { projectKey: 'OPS', summary: 'second' })
  h.fake.addIssue(JIRA_CLOUD_ID, { projectKey: 'OPS', summary: 'third' })
  const token = h.callerToken('agent')
  const client = await connect(t, h, 'agent', token)

  const tools = (await client.listTools()).tools
  const search = tools.find((tool) => tool.name === 'jira_search_issues')
  t.match(search, { annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true }, inputSchema: { type: 'object', required: ['jql'] } })
  t.match(tools.find((tool) => tool.name === 'jira_create_issue')?.annotations, { readOnlyHint: false, destructiveHint: false, idempotentHint: false })
  t.match(tools.find((tool) => tool.name === 'jira_update_issue')?.annotations, { readOnlyHint: false, destructiveHint: true, idempotentHint: true })

  h.fake.reset()
  const page1 = await callTool(client, 'jira_search_issues', { jql: 'project = OPS', maxResults: 2 })
  t.notOk(page1.isError)
  t.match(textOf(page1), /OPS-3 \[To Do\] third\n- OPS-2 \[To Do\] second\n\nMore results: call again with cursor "2"/)
  t.match(page1.structuredContent, { cursor: '2', issues: [{ key: 'OPS-3' }, { key: 'OPS-2' }] })
  const page2 = await callTool(client, 'jira_search_issues', { jql: 'project = OPS', maxResults: 2, cursor: '2' })
  t.match(page2.structuredContent, { issues: [{ key: 'OPS-1' }] })
  t.notOk('cursor' in (page2.structuredContent ?? {}), 'the last page has no cursor')
  t.same(restCalls(h), ['POST /rest/api/3/search/jql', 'POST /rest/api/3/search/jql'])
  const searchPoints = [...h.broker.usage.tally.toolSeries()].find((series) => series.tool === 'jira_search_issues')
  t.equal(searchPoints === undefined ? 0 : usageFigures(searchPoints.total).points, (1 + 2) + (1 + 1), 'a tool\'s two searches cost 1 + their issues each')

  h.fake.reset()
  const comment = await callTool(client, 'jira_add_comment', { issueKey: 'OPS-1', body: 'Looks **good** to me' })
  t.match(comment.structuredContent, { key: 'OPS-1', commentId: /^\d+$/ })
  const issue = await callTool(client, 'jira_get_issue', { issueKey: 'OPS-1' })
  const text = textOf(issue)
  t.match(text, /^# OPS-1: first/)
  t.match(text, /## Description\n\nPlain and \*\*important\*\*/, 'ADF rendered by Jira, then Markdown')
  t.match(text, /## Comments \(1\)[\s\S]*Looks \*\*good\*\* to me/, 'the comment went in as ADF and comes back as Markdown')
  t.same(restCalls(h), ['POST /rest/api/3/issue/OPS-1/comment', 'GET /rest/api/3/issue/OPS-1', 'GET /rest/api/3/issue/OPS-1/comment'])

  const created = await callTool(client, 'jira_create_issue', { projectKey: 'OPS', summary: 'made by an agent', description: '# Why\n\nBecause' })
  t.match(created.structuredContent, { key: 'OPS-4' })
  const updated = await callTool(client, 'jira_update_issue', { issueKey: 'OPS-4', summary: 'renamed', labels: ['agent'] })
  t.match(updated.structuredContent, { key: 'OPS-4', updated: ['summary', 'labels'] })
  const reread = await callTool(client, 'jira_get_issue', { issueKey: 'OPS-4', commentLimit: 0 })
  t.match(textOf(reread), /# OPS-4: renamed[\s\S]*Labels: agent[\s\S]*# Why\n\nBecause/)

  const transitions = await callTool(client, 'jira_list_transitions', { issueKey: 'OPS-4' })
  t.match(textOf(transitions), /- 21: Start progress → In Progress/)
  const moved = await callTool(client, 'jira_transition_issue', { issueKey: 'OPS-4', transitionId: '21' })
  t.notOk(moved.isError)
  t.match(textOf(await callTool(client, 'jira_search_issues', { jql: 'key = OPS-4' })), /OPS-4 \[In Progress\] renamed/)

  const projects = await callTool(client, 'jira_list_projects', {})
  t.match(projects.structuredContent, { projects: [{ key: 'OPS' }] })

  // Atlassian's 4xx is a tool error carrying Atlassian's message.
  const missing = await callTool(client, 'jira_get_issue', { issueKey: 'NOPE-9' })
  t.equal(missing.isError, true)
  t.match(textOf(missing), /Atlassian answered 404: Issue does not exist/)
  const badTransition = await callTool(client, 'jira_transition_issue', { issueKey: 'OPS-4', transitionId: '99' })
  t.match(textOf(badTransition), /Atlassian answered 400: Transition id '99' is not valid/)

  // A key from a model cannot address another resource: every path value is encoded.
  h.fake.reset()
  await callTool(client, 'jira_get_issue', { issueKey: '../../myself', commentLimit: 0 })
  t.same(restCalls(h), ['GET /rest/api/3/issue/..%2F..%2Fmyself'])

  await h.broker.usage.close()
  const audit = readFileSync(`${dir}/calls.jsonl`, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>)
  t.match(audit.find((record) => record.tool === 'jira_search_issues'), { caller: 'agent', integration: 'jira-main', method: 'POST', path: '/rest/api/3/search/jql', status: 200 })
  t.ok(audit.filter((record) => record.tool === 'jira_get_issue').length >= 4, 'each REST call of a tool is one audit record')
  const metrics = await h.broker.usage.metrics?.text() ?? ''
  t.match(metrics, /atlassian_broker_tool_calls_total\{caller="agent",integration="jira-main",tool="jira_search_issues",status_class="2xx"\} 3/)

  const adminJwt = h.callerToken('ops-alice', { roles: ['broker-admin'] })
  const ops = await (await request(`${h.url}/admin/ops`, { headers: { authorization: `Bearer ${adminJwt}` } })).body.json() as { tools: unknown[] }
  const toolRow = (tool: string): unknown => (ops.tools as Array<{ tool: string }>).find((row) => row.tool === tool)
  t.same(toolRow('jira_add_comment'), { caller: 'agent', tool: 'jira_add_comment', calls: 1, errors: 0 }, 'the ops view: per caller × tool')
  t.same(toolRow('jira_get_issue'), { caller: 'agent', tool: 'jira_get_issue', calls: 5, errors: 2 }, 'each REST call, the 404s as errors')
  t.equal(ops.tools.length, 8, 'every Jira tool was used')

  const everything = JSON.stringify([audit, h.logs, metrics])
  t.notOk(everything.includes(token) || everything.includes(CLIENT_SECRET), 'no caller JWT or credential in audit, logs or metrics')
  for (const access of h.fake.tokensOf('svc-client-id')) t.notOk(everything.includes(access), 'no access token either')
})
