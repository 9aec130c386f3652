/**
 * `GET|POST|DELETE /mcp`: the MCP Streamable HTTP endpoint (src/mcp/), the thin Fastify adapter. The caller
 * authenticates with its caller JWT exactly as on `/proxy` (none or a bad one: 401 with `WWW-Authenticate`, the
 * broker's problem body); then the SDK's transport reads the body and writes the answer itself (JSON or SSE), under
 * `reply.hijack()`. Registered only when `mcp.enabled`; the SDK and the tools load with it, never for plain `serve`.
 */
import type { FastifyInstance } from 'fastify'
import type { McpSessions, McpSessionsDeps } from '../mcp/mcp-sessions.js'

export function mcpRoutes (deps: McpSessionsDeps): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    const { McpSessions: Sessions } = await import('../mcp/mcp-sessions.js')
    const sessions: McpSessions = new Sessions(deps)
    app.addHook('onClose', async () => { await sessions.close() })
    await app.register(async (scope) => {
      // The SDK reads and parses the JSON-RPC body itself (and answers a bad one with a JSON-RPC parse error).
      scope.removeAllContentTypeParsers()
      scope.addContentTypeParser('*', (_request, _payload, done) => { done(null) })
      scope.route({
        method: ['GET', 'POST', 'DELETE'],
        url: '/mcp',
        handler: async (request, reply) => {
          const caller = await app.authenticateCaller(request)
          reply.hijack()
          // What the broker's hooks set (x-request-id) goes out with the SDK's answer too.
          for (const [name, value] of Object.entries(reply.getHeaders())) {
            if (value !== undefined) reply.raw.setHeader(name, value)
          }
          await sessions.handle(request.raw, reply.raw, caller.id)
          return reply
        }
      })
    })
  }
}
