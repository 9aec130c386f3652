/**
 * The MCP endpoint's sessions, on the official SDK (@modelcontextprotocol/sdk): one McpServer and one Streamable HTTP
 * transport per session, stateful (`Mcp-Session-Id`), so the SDK does the protocol: initialization, version
 * negotiation and the `MCP-Protocol-Version` check, JSON-RPC errors for bad messages, notifications, SSE streams.
 * A session belongs to the caller that opened it: another caller presenting its id gets the SDK's "session not
 * found" (404), never someone else's tools. Each caller keeps at most `maxSessionsPerCaller` (its oldest is closed
 * for a new one); a session unused for `sessionIdleMs` is closed. Loaded only when `mcp.enabled`.
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import type { Policy } from '../policy/policy.js'
import { CallerGone } from '../upstream/caller-gone.js'
import { toolsFor } from './caller-tools.js'
import { ToolRefusal, ToolRest, type ToolRestDeps } from './tool-rest.js'

export interface McpSettings { maxSessionsPerCaller: number, sessionIdleMs: number }

export interface McpSessionsDeps extends ToolRestDeps {
  policy: Policy
  settings: McpSettings
  version: string
}

interface Session {
  id: string
  caller: string
  transport: StreamableHTTPServerTransport
  server: McpServer
  lastUsed: number
}

const SWEEP_EVERY_MS = 60_000

export class McpSessions {
  readonly #deps: McpSessionsDeps
  readonly #sessions = new Map<string, Session>()
  #lastSweep = 0

  constructor (deps: McpSessionsDeps) {
    this.#deps = deps
  }

  get size (): number { return this.#sessions.size }

  /** Answers one HTTP request to `/mcp` of an authenticated caller; the body is read by the SDK. */
  async handle (request: IncomingMessage, response: ServerResponse, caller: string): Promise<void> {
    const now = this.#deps.clock.now()
    this.#sweep(now)
    const header = request.headers['mcp-session-id']
    const sessionId = typeof header === 'string' ? header : undefined
    if (sessionId !== undefined) {
      const session = this.#sessions.get(sessionId)
      if (session === undefined || session.caller !== caller) return sessionNotFound(response)
      session.lastUsed = now
      await session.transport.handleRequest(request, response)
      return
    }
    // No session yet: the SDK accepts only an `initialize` here (anything else gets its 400 and is dropped).
    const session = this.#open(caller, now)
    await session.transport.handleRequest(request, response)
    if (session.transport.sessionId === undefined) await closeQuietly(session)
  }

  async close (): Promise<void> {
    const sessions = [...this.#sessions.values()]
    this.#sessions.clear()
    await Promise.all(sessions.map(closeQuietly))
  }

  #open (caller: string, now: number): Session {
    const server = new McpServer(
      { name: 'atlassian-broker', version: this.#deps.version },
      { capabilities: { tools: {} }, instructions: 'Jira and Confluence through the atlassian-broker: the tools listed are those your policy allows.' }
    )
    const session: Session = { id: '', caller, server, lastUsed: now, transport: undefined as unknown as StreamableHTTPServerTransport }
    session.transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        session.id = id
        this.#sessions.set(id, session)
        this.#capCaller(caller)
      },
      onsessionclosed: (id) => { this.#sessions.delete(id) }
    })
    this.#registerTools(server, caller)
    // connect() only wires the transport's callbacks; it settles at once.
    void server.connect(session.transport)
    return session
  }

  #registerTools (server: McpServer, caller: string): void {
    for (const tool of toolsFor(caller, this.#deps.policy, this.#deps.integrations)) {
      server.registerTool(tool.spec.name, {
        title: tool.spec.title,
        description: tool.spec.description,
        inputSchema: tool.input,
        annotations: { title: tool.spec.title, ...tool.spec.annotations }
      }, async (args: Record<string, unknown>, extra): Promise<CallToolResult> => {
        const signal = new CallerGone()
        if (extra.signal.aborted) signal.abort()
        else extra.signal.addEventListener('abort', () => { signal.abort() }, { once: true })
        const integration = typeof args.integration === 'string' ? args.integration : tool.integrations[0]
        const rest = new ToolRest(this.#deps, { caller, tool: tool.spec.name, signal }, integration)
        try {
          const output = await tool.spec.run(rest, args)
          return { content: [{ type: 'text', text: output.text }], structuredContent: output.structured }
        } catch (error) {
          if (!(error instanceof ToolRefusal)) {
            this.#deps.logger.error({ err: error, tool: tool.spec.name, caller }, 'MCP tool failed')
            return { content: [{ type: 'text', text: 'BROKER_ERR_INTERNAL: Internal error' }], isError: true }
          }
          const structured = {
            status: error.status,
            ...(error.code === undefined ? {} : { code: error.code }),
            ...(error.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: error.retryAfterSeconds })
          }
          return { content: [{ type: 'text', text: error.message }], structuredContent: structured, isError: true }
        }
      })
    }
  }

  /** The caller's sessions beyond its share, oldest use first, are closed. */
  #capCaller (caller: string): void {
    const own = [...this.#sessions.values()].filter((session) => session.caller === caller)
    const over = own.length - this.#deps.settings.maxSessionsPerCaller
    if (over <= 0) return
    own.sort((a, b) => a.lastUsed - b.lastUsed)
    for (const session of own.slice(0, over)) {
      this.#sessions.delete(session.id)
      void closeQuietly(session)
    }
  }

  #sweep (now: number): void {
    if (now - this.#lastSweep < SWEEP_EVERY_MS) return
    this.#lastSweep = now
    for (const session of this.#sessions.values()) {
      if (now - session.lastUsed < this.#deps.settings.sessionIdleMs) continue
      this.#sessions.delete(session.id)
      void closeQuietly(session)
    }
  }
}

/** What the SDK answers for an unknown session (MCP Streamable HTTP: 404, the client starts a new session). */
function sessionNotFound (response: ServerResponse): void {
  response.writeHead(404, { 'content-type': 'application/json' })
  response.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }))
}

async function closeQuietly (session: Session): Promise<void> {
  await session.server.close().catch(() => {})
}
