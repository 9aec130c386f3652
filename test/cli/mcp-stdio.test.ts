/**
 * `atlassian-broker mcp-stdio`: the SDK's stdio client starts the real command (through tsx), which bridges to a
 * broker's /mcp over loopback HTTP. The caller JWT comes from the token file (re-read per request) and is never
 * printed; bad flags are usage errors.
 */
import { writeFileSync } from 'node:fs'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import t from 'tap'
import { JIRA_CLOUD_ID } from '../helpers/broker-harness.js'
import { CLI, cliEnv, runCli } from '../helpers/cli.js'
import { startMcpHarness } from '../mcp/mcp-harness.js'
import { mcpEndpoint } from '../../src/cli/mcp-stdio.js'

t.test('an MCP client over stdio reaches the broker\'s tools through mcp-stdio', async (t) => {
  const h = await startMcpHarness(t)
  h.fake.addIssue(JIRA_CLOUD_ID, { projectKey: 'STD', summary: 'over stdio' })
  const dir = t.testdir({})
  const tokenFile = `${dir}/token`
  writeFileSync(tokenFile, `${h.callerToken('reader')}\n`)
  let stderr = ''
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: ['--import', 'tsx', CLI, 'mcp-stdio', '--url', h.url, '--token-file', tokenFile],
    env: cliEnv() as Record<string, string>,
    stderr: 'pipe'
  })
  transport.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const client = new Client({ name: 'stdio-test', version: '1.0.0' })
  await client.connect(transport)
  t.teardown(() => client.close())

  const names = (await client.listTools()).tools.map((tool) => tool.name)
  t.ok(names.includes('jira_search_issues') && !names.includes('jira_create_issue'), 'the reader\'s tools, as over HTTP')
  const found = await client.callTool({ name: 'jira_search_issues', arguments: { jql: 'project = STD' } }) as CallToolResult
  t.match(found.content, [{ type: 'text', text: /STD-1 \[To Do\] over stdio/ }])

  // The file is read for every request: a rewritten token (another caller here) takes effect without a restart.
  writeFileSync(tokenFile, h.callerToken('agent'))
  const refused = await client.listTools().catch((error: Error) => error)
  t.type(refused, Error, 'the session belongs to the caller that opened it: another caller\'s token cannot use it')
  await client.close()
  t.notMatch(stderr, /eyJ/, 'no JWT on stderr')
})

t.test('mcp-stdio needs --url and a readable --token-file', async (t) => {
  const dir = t.testdir({ empty: '' })
  const missing = await runCli(['mcp-stdio', '--url', 'http://127.0.0.1:1'], { cwd: dir })
  t.equal(missing.code, 2)
  t.match(missing.stderr, /mcp-stdio needs --url BROKER_URL --token-file FILE/)
  const empty = await runCli(['mcp-stdio', '--url', 'http://127.0.0.1:1', '--token-file', `${dir}/empty`], { cwd: dir })
  t.match(empty, { code: 2, stdout: '', stderr: /is empty/ })
  const badUrl = await runCli(['mcp-stdio', '--url', 'ftp://x', '--token-file', `${dir}/empty`], { cwd: dir })
  t.match(badUrl, { code: 2, stderr: /http:\/\/ or https:\/\// })
  t.equal(mcpEndpoint('http://127.0.0.1:8080').href, 'http://127.0.0.1:8080/mcp')
  t.equal(mcpEndpoint('https://broker.internal/mcp').href, 'https://broker.internal/mcp')
})
