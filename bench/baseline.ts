/**
 * The baseline: the least a Node proxy can do. A bare `http` server that forwards each request over an undici Pool
 * with one header added (`authorization`), and pipes both bodies through. No auth, no policy, no logging: the ratio
 * broker / baseline is the cost of everything the broker does on top of moving bytes.
 * Run directly, it is a child process that reports its URL over IPC.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pipeline } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { Pool, type Dispatcher } from 'undici'
import { memoryReport, serveParent } from './processes.js'

// undici refuses these on a request, and Node sets its own on a response.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host', 'upgrade'])

function withoutHopByHop (
  headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>
): Record<string, string | string[]> {
  const copy: Record<string, string | string[]> = {}
  for (const name in headers) {
    const value = headers[name]
    if (value !== undefined && !HOP_BY_HOP.has(name)) copy[name] = value
  }
  return copy
}

export async function startBaseline (
  upstreamUrl: string,
  options: { connections?: number } = {}
): Promise<{ url: string, close: () => Promise<void> }> {
  const pool = new Pool(upstreamUrl, { connections: options.connections ?? 64, pipelining: 1 })
  const server = createServer((request, response) => {
    const headers = withoutHopByHop(request.headers)
    headers.authorization = 'Bearer baseline-access-token'
    const hasBody =
      request.headers['content-length'] !== undefined || request.headers['transfer-encoding'] !== undefined
    pool
      .request({
        path: request.url ?? '/',
        method: request.method as Dispatcher.HttpMethod,
        headers,
        body: hasBody ? request : null
      })
      .then(
        (upstream) => {
          // The client may be gone already (the load generator's run ended): Node 26's pipeline throws on a
          // destroyed destination instead of reporting it to the callback.
          if (response.destroyed) { upstream.body.once('error', () => {}).destroy(); return }
          response.writeHead(upstream.statusCode, withoutHopByHop(upstream.headers))
          pipeline(upstream.body, response, () => {})
        },
        () => {
          if (!response.destroyed) response.writeHead(502).end()
        }
      )
  })
  server.keepAliveTimeout = 120_000
  server.headersTimeout = 125_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      await pool.close()
    }
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const upstreamUrl = process.argv[2]
  if (upstreamUrl === undefined) throw new Error('usage: baseline UPSTREAM_URL')
  const baseline = await startBaseline(upstreamUrl)
  serveParent({ url: baseline.url }, {
    memory: memoryReport
  }, baseline.close)
}
