/**
 * A broker with `/mcp` on, in front of the fake Atlassian (test/helpers/broker-harness.ts), and the official SDK's
 * client (StreamableHTTPClientTransport) connected to it over real loopback HTTP with a caller JWT.
 * Callers: `agent` may read and write Jira and Confluence; `reader` may only read (Jira search is a POST).
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import type { Test } from 'tap'
import { startHarness, type Harness, type HarnessOptions } from '../helpers/broker-harness.js'

export const MCP_POLICY = [
  { caller: 'agent', integration: 'jira-main', methods: ['GET', 'POST', 'PUT'], paths: ['/rest/api/3/**'] },
  { caller: 'agent', integration: 'wiki-main', methods: ['GET', 'POST', 'PUT'], paths: ['/wiki/**'] },
  { caller: 'reader', integration: 'jira-main', methods: ['GET'], paths: ['/rest/api/3/**'] },
  { caller: 'reader', integration: 'jira-main', methods: ['POST'], paths: ['/rest/api/3/search/jql'] },
  { caller: 'reader', integration: 'wiki-main', methods: ['GET'], paths: ['/wiki/**'] }
]

export async function startMcpHarness (t: Test, options: HarnessOptions = {}): Promise<Harness> {
  return await startHarness(t, {
    ...options,
    config: { mcp: { enabled: true }, policy: MCP_POLICY, ...options.config }
  })
}

export async function connect (t: Test, h: Harness, caller: string, token = h.callerToken(caller)): Promise<Client> {
  const client = new Client({ name: 'broker-test', version: '1.0.0' })
  const transport = new StreamableHTTPClientTransport(new URL(`${h.url}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${token}` } }
  })
  await client.connect(transport)
  t.teardown(() => client.close())
  return client
}

export async function callTool (client: Client, name: string, args: Record<string, unknown>): Promise<CallToolResult> {
  return await client.callTool({ name, arguments: args }) as CallToolResult
}

export function textOf (result: CallToolResult): string {
  return result.content.map((part) => part.type === 'text' ? part.text : '').join('\n')
}

/** The gateway calls the fake saw, as `METHOD /path` (after /ex/{product}/{cloudId}), in order. */
export function restCalls (h: Harness): string[] {
  return h.fake.requests.filter((request) => request.endpoint === 'gateway').map((request) => `${request.method} ${request.apiPath ?? ''}`)
}
