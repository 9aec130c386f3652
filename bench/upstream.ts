/**
 * The local upstream the bench forwards to: a stand-in for api.atlassian.com and auth.atlassian.com on loopback.
 * - any GET: a static JSON body of about 1 KB (a Jira issue), with content-length;
 * - `.../bench/large?bytes=N`: N bytes streamed chunked from one reused buffer, honouring backpressure;
 * - `.../bench/upload`: a sink that counts the bytes it receives;
 * - `POST /oauth/token`: the client-credentials exchange in Atlassian's shape, after `tokenDelayMs`, counted.
 * `GET /__bench/stats` and `POST /__bench/reset` let the orchestrator read and zero the counters.
 * Run directly, it is a child process that reports its URL over IPC.
 */
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { serveParent } from './processes.js'

export interface UpstreamStats {
  exchanges: number
  uploads: number
  uploadedBytes: number
}

export interface Upstream {
  url: string
  stats: UpstreamStats
  close: () => Promise<void>
}

/** The small-GET answer: what GET /rest/api/3/issue/{key}?fields=summary,status looks like, padded to ~1 KB. */
export function smallBody (): Buffer {
  const issue = {
    expand: 'renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations',
    id: '10042',
    self: 'https://api.atlassian.com/ex/jira/11111111-1111-1111-1111-111111111111/rest/api/3/issue/10042',
    key: 'OPS-42',
    fields: {
      summary: 'Nightly report job fails on the second page of results',
      status: {
        self: 'https://api.atlassian.com/ex/jira/11111111-1111-1111-1111-111111111111/rest/api/3/status/3',
        description: 'This issue is being actively worked on at the moment by the assignee.',
        iconUrl: 'https://example.atlassian.net/images/icons/statuses/inprogress.png',
        name: 'In Progress',
        id: '3',
        statusCategory: { self: 'https://api.atlassian.com/rest/api/3/statuscategory/4', id: 4, key: 'indeterminate', colorName: 'yellow', name: 'In Progress' }
      }
    },
    padding: ''
  }
  const base = Buffer.byteLength(JSON.stringify(issue))
  issue.padding = 'x'.repeat(Math.max(0, 1024 - base))
  return Buffer.from(JSON.stringify(issue))
}

const CHUNK = randomBytes(65_536)

export async function startUpstream (options: { port?: number, tokenDelayMs?: number } = {}): Promise<Upstream> {
  const stats: UpstreamStats = { exchanges: 0, uploads: 0, uploadedBytes: 0 }
  const body = smallBody()
  const tokenDelayMs = options.tokenDelayMs ?? 50
  let requestCounter = 0

  const server = createServer((request, response) => {
    const url = request.url ?? '/'
    const mark = url.indexOf('?')
    const path = mark === -1 ? url : url.slice(0, mark)
    if (path === '/oauth/token' && request.method === 'POST') return tokenExchange(request, response)
    if (path === '/__bench/stats') return json(response, 200, stats)
    if (path === '/__bench/reset') {
      stats.exchanges = 0
      stats.uploads = 0
      stats.uploadedBytes = 0
      return json(response, 200, stats)
    }
    if (path.endsWith('/bench/large')) return streamLarge(response, Number(new URLSearchParams(url.slice(mark + 1)).get('bytes') ?? 0))
    if (path.endsWith('/bench/upload')) return sink(request, response)
    request.resume()
    response.writeHead(200, {
      'content-type': 'application/json;charset=UTF-8',
      'content-length': body.length,
      'x-arequestid': `bench-${++requestCounter}`
    })
    response.end(body)
  })
  server.keepAliveTimeout = 120_000
  server.headersTimeout = 125_000

  function tokenExchange (request: IncomingMessage, response: ServerResponse): void {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      let grant: { grant_type?: string, client_id?: string, client_secret?: string } = {}
      try { grant = JSON.parse(Buffer.concat(chunks).toString('utf8')) } catch { /* answered below */ }
      if (grant.grant_type !== 'client_credentials' || !grant.client_id || !grant.client_secret) {
        json(response, 401, { error: 'access_denied', error_description: 'Unauthorized' })
        return
      }
      stats.exchanges++
      setTimeout(() => {
        json(response, 200, { access_token: `bench-at-${randomBytes(24).toString('base64url')}`, token_type: 'Bearer', expires_in: 3600, scope: 'read:jira-work write:jira-work' })
      }, tokenDelayMs)
    })
  }

  function streamLarge (response: ServerResponse, bytes: number): void {
    response.writeHead(200, { 'content-type': 'application/octet-stream' })
    let left = bytes
    const write = (): void => {
      while (left > 0) {
        const piece = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left)
        left -= piece.length
        if (!response.write(piece)) { response.once('drain', write); return }
      }
      response.end()
    }
    write()
  }

  function sink (request: IncomingMessage, response: ServerResponse): void {
    let received = 0
    request.on('data', (chunk: Buffer) => { received += chunk.length })
    request.on('end', () => {
      stats.uploads++
      stats.uploadedBytes += received
      json(response, 201, { received })
    })
  }

  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()) })
  }
}

function json (response: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value)
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  response.end(text)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const delay = process.argv.indexOf('--token-delay-ms')
  const upstream = await startUpstream({ tokenDelayMs: delay === -1 ? 50 : Number(process.argv[delay + 1]) })
  serveParent({ url: upstream.url }, {}, upstream.close)
}
