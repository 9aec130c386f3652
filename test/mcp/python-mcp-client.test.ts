/**
 * A second, independent client: the Python MCP SDK from PyPI (`mcp`, pinned in test/interop/python/requirements.txt,
 * in the venv the interop tests build) against the broker's /mcp over real HTTP: it negotiates a session, lists the
 * tools with their annotations, calls a read and a write tool, and gets Atlassian's 404 as a tool error.
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { CLIENT_SECRET, JIRA_CLOUD_ID } from '../helpers/broker-harness.js'
import { pythonTools } from '../helpers/python-tools.js'
import { startMcpHarness } from './mcp-harness.js'

const run = promisify(execFile)
const SCRIPT = fileURLToPath(new URL('../interop/python/mcp_client.py', import.meta.url))

interface PythonOutcome {
  tools: string[]
  annotations: Record<string, Record<string, unknown>>
  search: { isError: boolean, text: string, structured: Record<string, unknown> }
  created: { isError: boolean, structured: Record<string, unknown> }
  missing: { isError: boolean, text: string }
}

t.test('the Python MCP SDK lists and calls the broker\'s tools', async (t) => {
  const tools = await pythonTools()
  if (!tools.ok) { t.plan(0, tools.skip); return }
  const h = await startMcpHarness(t)
  h.fake.addIssue(JIRA_CLOUD_ID, { projectKey: 'PY', summary: 'one' })
  h.fake.addIssue(JIRA_CLOUD_ID, { projectKey: 'PY', summary: 'two' })
  const token = h.callerToken('agent')
  const { stdout } = await run(tools.bin('python'), [SCRIPT], {
    env: { PATH: process.env.PATH, BROKER_URL: h.url, BROKER_TOKEN: token, NO_PROXY: '127.0.0.1' },
    timeout: 120_000
  })
  const outcome = JSON.parse(stdout) as PythonOutcome
  t.equal(outcome.tools.length, 14)
  t.match(outcome.annotations.jira_search_issues, {
    read_only_hint: true,
    destructive_hint: false,
    idempotent_hint: true
  })
  t.match(outcome.annotations.confluence_update_page, { read_only_hint: false, destructive_hint: true })
  t.match(outcome.search, { isError: false, text: /^- PY-2 \[To Do\] two\n\nMore results: call again with cursor "1"\.$/, structured: { cursor: '1' } })
  t.match(outcome.created, { isError: false, structured: { key: 'PY-3' } })
  t.match(outcome.missing, { isError: true, text: 'Atlassian answered 404: Issue does not exist or you do not have permission to see it.' })
  t.notOk(stdout.includes(token) || stdout.includes(CLIENT_SECRET), 'no caller JWT or credential in what the client saw')
  for (const access of h.fake.tokensOf('svc-client-id')) t.notOk(stdout.includes(access), 'no access token either')
})
