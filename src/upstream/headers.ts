/**
 * Header hygiene between caller, broker and Atlassian. Hop-by-hop headers (RFC 9110 section 7.6.1, plus every
 * name listed in `Connection`) never cross the proxy. Towards Atlassian only an allow-list passes: a header the
 * broker does not know could re-route or re-type the call behind the policy's back (`X-HTTP-Method-Override`,
 * `X-Original-URL`, `X-Forwarded-Prefix`, `True-Client-IP`, ...), so the caller's credentials, cookies and any
 * routing or override header stay with the broker. The list is documented in the README ("Forwarded headers").
 */
import type { IncomingHttpHeaders } from 'node:http'

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authenticate', 'proxy-authorization'
])

/** The only caller headers forwarded upstream: content negotiation, the body's description, conditional and range
 *  requests, caching, tracing, and Atlassian's documented request headers (XSRF opt-out, experimental-API opt-in). */
export const FORWARDED_REQUEST_HEADERS: ReadonlySet<string> = new Set([
  'accept', 'accept-encoding', 'accept-language', 'user-agent',
  'content-type', 'content-encoding', 'content-language',
  'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since', 'if-range', 'range',
  'cache-control', 'pragma',
  'traceparent', 'tracestate', 'x-request-id',
  'x-atlassian-token', 'x-experimentalapi', 'x-force-accept-language'
])

/** Never returned to callers: a service account's session cookies must not be shared between jobs. */
const UPSTREAM_ONLY = new Set(['set-cookie'])

type HeaderValue = string | string[] | undefined

/** The values nearly every message carries, parsed once (the sets are only read). */
const KEEP_ALIVE: ReadonlySet<string> = new Set(['keep-alive'])
const CLOSE: ReadonlySet<string> = new Set(['close'])
const COMMON_CONNECTION = new Map([['keep-alive', KEEP_ALIVE], ['Keep-Alive', KEEP_ALIVE], ['close', CLOSE], ['Close', CLOSE]])

function connectionListed (value: HeaderValue): ReadonlySet<string> | undefined {
  if (value === undefined) return undefined
  const common = typeof value === 'string' ? COMMON_CONNECTION.get(value) : undefined
  if (common !== undefined) return common
  const listed = new Set<string>()
  for (const entry of Array.isArray(value) ? value : [value]) {
    for (const token of entry.split(',')) {
      const name = token.trim().toLowerCase()
      if (name !== '') listed.add(name)
    }
  }
  return listed
}

/** A copy of `source` without hop-by-hop headers, the names in `Connection`, and `dropped`. */
function copyWithout (
  source: Record<string, HeaderValue>,
  dropped: ReadonlySet<string>
): Record<string, string | string[]> {
  const listed = connectionListed(source.connection)
  const headers: Record<string, string | string[]> = {}
  for (const name in source) {
    const value = source[name]
    if (value === undefined || HOP_BY_HOP.has(name) || dropped.has(name) || listed?.has(name)) continue
    headers[name] = value
  }
  return headers
}

/** Headers for the upstream request: the allow-listed ones only (minus any the caller's `Connection` lists);
 *  `content-length` is set by the forwarder from the body it actually sends. */
export function upstreamRequestHeaders (
  incoming: IncomingHttpHeaders,
  authorization: string
): Record<string, string | string[]> {
  const listed = connectionListed(incoming.connection)
  const headers: Record<string, string | string[]> = {}
  for (const name in incoming) {
    const value = incoming[name]
    if (value === undefined || !FORWARDED_REQUEST_HEADERS.has(name) || listed?.has(name)) continue
    headers[name] = value
  }
  headers.authorization = authorization
  return headers
}

/** Headers for the caller's response: Atlassian's (rate-limit headers included) minus hop-by-hop and cookies. */
export function callerResponseHeaders (upstream: Record<string, HeaderValue>): Record<string, string | string[]> {
  return copyWithout(upstream, UPSTREAM_ONLY)
}
