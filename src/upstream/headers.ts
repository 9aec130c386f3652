/**
 * Header hygiene between caller, broker and Atlassian. Hop-by-hop headers (RFC 9110 section 7.6.1, plus every
 * name listed in `Connection`) never cross the proxy; the caller's own credentials and cookies stay with the
 * broker; the caller can never steer routing (`Host`, `Forwarded`, `X-Forwarded-*`).
 */
import type { IncomingHttpHeaders } from 'node:http'

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authenticate', 'proxy-authorization'
])

/** Never forwarded upstream: credentials, cookies and anything that names hosts. */
const CALLER_ONLY = new Set(['authorization', 'cookie', 'host', 'forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-port', 'x-real-ip', 'expect', 'content-length'])

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
function copyWithout (source: Record<string, HeaderValue>, dropped: ReadonlySet<string>): Record<string, string | string[]> {
  const listed = connectionListed(source.connection)
  const headers: Record<string, string | string[]> = {}
  for (const name in source) {
    const value = source[name]
    if (value === undefined || HOP_BY_HOP.has(name) || dropped.has(name) || listed?.has(name)) continue
    headers[name] = value
  }
  return headers
}

/** Headers for the upstream request; `content-length` is set by the forwarder from the body it actually sends. */
export function upstreamRequestHeaders (incoming: IncomingHttpHeaders, authorization: string): Record<string, string | string[]> {
  const headers = copyWithout(incoming, CALLER_ONLY)
  headers.authorization = authorization
  return headers
}

/** Headers for the caller's response: Atlassian's (rate-limit headers included) minus hop-by-hop and cookies. */
export function callerResponseHeaders (upstream: Record<string, HeaderValue>): Record<string, string | string[]> {
  return copyWithout(upstream, UPSTREAM_ONLY)
}
