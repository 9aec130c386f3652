/**
 * `atlassian-broker mcp-stdio --url BROKER --token-file FILE`: for MCP clients that only start a local process, a
 * bridge from stdio (newline-delimited JSON-RPC) to the broker's `/mcp` (Streamable HTTP), both ends the SDK's own
 * transports. The caller JWT is read from the file for every HTTP request, so a token file a job or kubelet rewrites
 * keeps working for a long session; it is sent only as `Authorization` and never printed. stdout carries the protocol
 * alone; problems go to stderr. Ends when stdin ends.
 */
import { readFileSync } from 'node:fs'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js'
import { UsageError } from './io.js'

export interface McpStdioOptions {
  url: string | undefined
  tokenFile: string | undefined
  stdin?: NodeJS.ReadableStream
  stdout?: NodeJS.WritableStream
  stderr?: NodeJS.WritableStream
}

/** The `/mcp` endpoint of a broker URL given with or without the path. */
export function mcpEndpoint (url: string): URL {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new UsageError(`--url must be the broker's URL, such as http://127.0.0.1:8080, not "${url}"`)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UsageError('--url must be http:// or https://')
  if (!parsed.pathname.endsWith('/mcp')) parsed.pathname = `${parsed.pathname.replace(/\/$/, '')}/mcp`
  return parsed
}

function readToken (file: string): string {
  let token: string
  try {
    token = readFileSync(file, 'utf8').trim()
  } catch (error) {
    throw new UsageError(`cannot read --token-file ${file}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`)
  }
  if (token === '') throw new UsageError(`--token-file ${file} is empty`)
  return token
}

/** Runs until stdin ends (resolves then). */
export async function runMcpStdio (options: McpStdioOptions): Promise<void> {
  if (options.url === undefined || options.tokenFile === undefined) throw new UsageError('mcp-stdio needs --url BROKER_URL --token-file FILE')
  const endpoint = mcpEndpoint(options.url)
  const tokenFile = options.tokenFile
  readToken(tokenFile)
  const stderr = options.stderr ?? process.stderr
  const http = new StreamableHTTPClientTransport(endpoint, {
    fetch: async (target, init) => {
      const headers = new Headers(init?.headers)
      headers.set('authorization', `Bearer ${readToken(tokenFile)}`)
      return await fetch(target, { ...init, headers })
    }
  })
  const stdio = new StdioServerTransport(
    (options.stdin ?? process.stdin) as ConstructorParameters<typeof StdioServerTransport>[0],
    (options.stdout ?? process.stdout) as ConstructorParameters<typeof StdioServerTransport>[1]
  )
  const initializeIds = new Set<string | number>()
  const forward = (message: JSONRPCMessage): void => {
    if ('method' in message && message.method === 'initialize' && 'id' in message) initializeIds.add(message.id)
    http.send(message).catch((error: unknown) => {
      const text = error instanceof Error ? error.message : String(error)
      stderr.write(`atlassian-broker mcp-stdio: ${text}\n`)
      // A request that could not be delivered still gets its answer, so the client does not wait forever.
      if ('id' in message && 'method' in message) {
        void stdio.send({ jsonrpc: '2.0', id: message.id, error: { code: -32_000, message: `The broker did not take the request: ${text}` } })
      }
    })
  }
  http.onmessage = (message) => {
    // The client's side of the version negotiation: later requests carry the version the server chose.
    if ('id' in message && 'result' in message && initializeIds.delete(message.id)) {
      const version = (message.result as { protocolVersion?: unknown }).protocolVersion
      if (typeof version === 'string') http.setProtocolVersion(version)
    }
    void stdio.send(message)
  }
  http.onerror = (error) => { stderr.write(`atlassian-broker mcp-stdio: ${error.message}\n`) }
  stdio.onmessage = forward
  const closed = new Promise<void>((resolve) => { stdio.onclose = resolve })
  ;(options.stdin ?? process.stdin).once('end', () => { void stdio.close() })
  await http.start()
  await stdio.start()
  await closed
  await http.terminateSession().catch(() => {})
  await http.close()
}
