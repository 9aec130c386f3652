/**
 * Wire-level pieces of the fake Atlassian Cloud: shared types, the request record, body consumption without buffering,
 * and builders for the error and rate-limit responses Atlassian documents. No routing lives here.
 */
import { createHash } from 'node:crypto'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'

export type Product = 'jira' | 'confluence'

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }

/** A response the fake sends: queued by `setNextResponses`, returned by a route's `respond`, or built in. */
export interface FakeResponse {
  status: number
  headers?: Readonly<Record<string, string>>
  /** A string is sent as it is; any other value as JSON (`application/json;charset=UTF-8`). Omitted: empty body. */
  body?: JsonValue
  /** Answer after this many milliseconds of real time (the fake's timers ignore a faked clock). */
  delayMs?: number
  /** Reset the connection instead of answering. */
  destroySocket?: boolean
}

/** What the caller put in `Authorization`, parsed. `malformed` covers unknown schemes and undecodable Basic. */
export type PresentedCredential =
  | { scheme: 'none' }
  | { scheme: 'bearer', token: string }
  | { scheme: 'basic', username: string, password: string }
  | { scheme: 'malformed', value: string }

/** How a token request was shaped, for asserting on the broker's exchange. */
export interface TokenRequestInfo {
  /** `unreadable`: another content type, or JSON that does not parse to an object. */
  format: 'json' | 'form' | 'unreadable'
  clientAuth: 'body' | 'basic' | 'none'
  grantType: string | undefined
  clientId: string | undefined
  clientSecret: string | undefined
}

/** One request that reached the fake. Fields after `bodySha256` are filled in while the request is handled. */
export interface RecordedRequest {
  /** `now()` when the request arrived, in epoch milliseconds. */
  at: number
  endpoint: 'token' | 'gateway' | 'site'
  method: string
  /** The request target exactly as received (path and query, nothing decoded or normalised). */
  url: string
  /** `url` before the first `?`. */
  path: string
  /** `url` after the first `?`, or '' when there is none. */
  query: string
  /** Node's lower-cased view (duplicate `authorization` headers collapse to the first here: see `rawHeaders`). */
  headers: IncomingHttpHeaders
  /** Header names and values as sent, in order, names in their original case. */
  rawHeaders: string[]
  bodyBytes: number
  /** sha256 (hex) of the whole body, hashed while streaming, so present for any size once the body ended. */
  bodySha256: string | undefined
  credential: PresentedCredential
  /** Gateway only: `/ex/{product}/{cloudId}` split out, and the rest of the path (raw). */
  product: string | undefined
  cloudId: string | undefined
  apiPath: string | undefined
  /** Token endpoint: the client named in the request. Gateway: the client whose access token was accepted. */
  clientId: string | undefined
  /** Gateway: the API token accepted (Bearer or Basic). */
  apiToken: string | undefined
  tokenRequest: TokenRequestInfo | undefined
  /** Token endpoint: the access token minted by this request. */
  issuedAccessToken: string | undefined
  /** The status answered; `undefined` while pending or when the socket was destroyed. */
  status: number | undefined
}

/** Matches a request by path: a string equals the full path or the gateway-relative `apiPath`; a RegExp is tested on
 * the full path. */
export type RequestMatcher = string | RegExp | ((request: RecordedRequest) => boolean)

export function matches (matcher: RequestMatcher, request: RecordedRequest): boolean {
  if (typeof matcher === 'function') return matcher(request)
  if (typeof matcher === 'string') return request.path === matcher || request.apiPath === matcher
  return matcher.test(request.path)
}

const GATEWAY_PATH = /^\/ex\/([^/]+)\/([^/]+)(\/.*)?$/

export function createRecord (req: IncomingMessage, at: number): RecordedRequest {
  const url = req.url ?? '/'
  const mark = url.indexOf('?')
  const path = mark === -1 ? url : url.slice(0, mark)
  const gateway = GATEWAY_PATH.exec(path)
  return {
    at,
    endpoint: path === '/oauth/token' ? 'token' : gateway ? 'gateway' : 'site',
    method: req.method ?? 'GET',
    url,
    path,
    query: mark === -1 ? '' : url.slice(mark + 1),
    headers: req.headers,
    rawHeaders: req.rawHeaders,
    bodyBytes: 0,
    bodySha256: undefined,
    credential: parseAuthorization(req.headers.authorization),
    product: gateway?.[1],
    cloudId: gateway?.[2],
    apiPath: gateway ? gateway[3] ?? '/' : undefined,
    clientId: undefined,
    apiToken: undefined,
    tokenRequest: undefined,
    issuedAccessToken: undefined,
    status: undefined
  }
}

/** Schemes are case-insensitive (RFC 9110 section 11.1). */
export function parseAuthorization (header: string | undefined): PresentedCredential {
  if (header === undefined) return { scheme: 'none' }
  const match = /^(\S+) +(\S+)\s*$/.exec(header)
  const scheme = match?.[1]?.toLowerCase()
  const value = match?.[2] ?? ''
  if (scheme === 'bearer') return { scheme: 'bearer', token: value }
  if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon > 0) return { scheme: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
  }
  return { scheme: 'malformed', value: header }
}

/** How many `Authorization` headers were sent: Node keeps only the first in `headers`. */
export function countAuthorizationHeaders (rawHeaders: readonly string[]): number {
  let count = 0
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]?.toLowerCase() === 'authorization') count++
  return count
}

/**
 * Reads the whole body with backpressure, counting and hashing as it goes, and keeps it only while it fits in
 * `keepLimit` bytes: a 1 GiB upload costs a hash, never a 1 GiB buffer. Resolves to the kept bytes, or `undefined` when
 * over the limit.
 */
export async function consumeBody (
  req: IncomingMessage,
  record: RecordedRequest,
  keepLimit: number
): Promise<Buffer | undefined> {
  const hash = createHash('sha256')
  let kept: Buffer[] | undefined = []
  for await (const chunk of req as AsyncIterable<Buffer>) {
    record.bodyBytes += chunk.length
    hash.update(chunk)
    if (kept && record.bodyBytes <= keepLimit) kept.push(chunk)
    else kept = undefined
  }
  record.bodySha256 = hash.digest('hex')
  return kept && Buffer.concat(kept)
}

/** RFC 6749 section 2.3.1: Basic client credentials are form-urlencoded before base64. */
function formDecode (value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '))
  } catch {
    return value
  }
}

/** Client credentials come from HTTP Basic when present, else from the JSON or form body. */
export function readTokenRequest (record: RecordedRequest, body: Buffer | undefined): TokenRequestInfo {
  const type = String(record.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase()
  let params: Record<string, unknown> | undefined
  if (type === 'application/x-www-form-urlencoded') params = Object.fromEntries(new URLSearchParams(body?.toString('utf8') ?? ''))
  if (type === 'application/json') {
    try {
      const parsed: unknown = JSON.parse(body?.toString('utf8') ?? '')
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) params = parsed as Record<string, unknown>
    } catch { /* unreadable */ }
  }
  const text = (value: unknown): string | undefined => typeof value === 'string' ? value : undefined
  const basic = record.credential.scheme === 'basic' ? record.credential : undefined
  return {
    format: params === undefined ? 'unreadable' : type === 'application/json' ? 'json' : 'form',
    clientAuth: basic ? 'basic' : text(params?.client_id) === undefined ? 'none' : 'body',
    grantType: text(params?.grant_type),
    clientId: basic ? formDecode(basic.username) : text(params?.client_id),
    clientSecret: basic ? formDecode(basic.password) : text(params?.client_secret)
  }
}

/** What any unrouted gateway request answers: exactly what reached the upstream. */
export function echo (record: RecordedRequest): { [key: string]: string | number | Record<string, string | string[]> } {
  const headers = Object.fromEntries(
    Object.entries(record.headers).filter((entry): entry is [string, string | string[]] => entry[1] !== undefined)
  )
  return { method: record.method, path: record.path, apiPath: record.apiPath ?? '', query: record.query, headers, bodyBytes: record.bodyBytes, bodySha256: record.bodySha256 ?? '' }
}

export function send (res: ServerResponse, record: RecordedRequest, response: FakeResponse): void {
  // The caller gave up (a timeout, a reset) while the fake was waiting: nobody is left to answer.
  if (res.destroyed) return
  const body = response.body
  const payload = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body)
  if (body !== undefined) {
    res.setHeader('content-type', typeof body === 'string' ? 'text/plain;charset=UTF-8' : 'application/json;charset=UTF-8')
  }
  for (const [name, value] of Object.entries(response.headers ?? {})) res.setHeader(name, value)
  res.setHeader('content-length', Buffer.byteLength(payload))
  record.status = response.status
  res.writeHead(response.status)
  res.end(payload)
}

export function json (status: number, body: JsonValue, headers?: Record<string, string>): FakeResponse {
  return headers ? { status, body, headers } : { status, body }
}

// Gateway error bodies as markfluence observed them through api.atlassian.com (see shared/reference/atlassian.md
// section 4).
export const unauthorized = (): FakeResponse => json(401, { code: 401, message: 'Unauthorized' })
export const scopeMismatch = (): FakeResponse => json(401, { code: 401, message: 'Unauthorized; scope does not match' })
/** The gateway's body for an unknown product or cloudId is not documented; this mirrors its 401 shape. */
export const gatewayNotFound = (): FakeResponse => json(404, { code: 404, message: 'Not Found' })

/** Scope present but no product permission answers 403; this is Jira's error-collection shape. */
export function forbidden (message = 'You do not have permission to perform this operation.'): FakeResponse {
  return json(403, { errorMessages: [message], errors: {} })
}

/** What `<site>.atlassian.net` answers a scoped token: "a Tomcat HTML error page, not a JSON API error" (markfluence).
 * */
export function siteHtmlUnauthorized (): FakeResponse {
  const title = 'HTTP Status 401 – Unauthorized'
  return {
    status: 401,
    headers: { 'content-type': 'text/html;charset=utf-8', 'content-language': 'en' },
    body: `<!doctype html><html lang="en"><head><title>${title}</title></head><body><h1>${title}</h1></body></html>`
  }
}

export type RateLimitReason =
  | 'jira-quota-global-based' | 'jira-quota-tenant-based' | 'jira-burst-based' | 'jira-per-issue-on-write'
  | 'confluence-quota-global-based' | 'confluence-quota-tenant-based'
  | 'jira-cost-based' | 'jira-max-concurrent-threads-across-all-instances-per-tenant-per-user'

export interface RateLimitOptions {
  /** Seconds; `null` leaves `Retry-After` out (and `RateLimit-Reason` with it, as observed in production). Default 1.
   * */
  retryAfterSeconds?: number | null
  reason?: RateLimitReason
  limit?: number
  /** Window reset; defaults to now + Retry-After (or + 60 s). Sent as ISO 8601 in `X-RateLimit-Reset`. */
  resetAt?: Date
}

/**
 * A documented 429 (developer.atlassian.com/cloud/jira/platform/rate-limiting): `Retry-After`, `X-RateLimit-Limit`,
 * `X-RateLimit-Remaining: 0`, `X-RateLimit-Reset` and `RateLimit-Reason`. The doc gives no body, so none is sent.
 */
export function rateLimited (options: RateLimitOptions = {}): FakeResponse {
  const retryAfter = options.retryAfterSeconds === undefined ? 1 : options.retryAfterSeconds
  const resetAt = options.resetAt ?? new Date(Date.now() + (retryAfter ?? 60) * 1000)
  const headers: Record<string, string> = {
    'X-RateLimit-Limit': String(options.limit ?? 350),
    'X-RateLimit-Remaining': '0',
    'X-RateLimit-Reset': resetAt.toISOString().replace(/\.\d{3}Z$/, 'Z')
  }
  if (retryAfter !== null) {
    headers['Retry-After'] = String(retryAfter)
    headers['RateLimit-Reason'] = options.reason ?? 'jira-burst-based'
  }
  return { status: 429, headers }
}

/**
 * The gateway-level 429 of the Atlassian status-page incident of 2026-04-22: no `Retry-After`, no reason, lower-case
 * `Ratelimit` spellings and `X-Failure-Category: FAILURE CLIENT RATE LIMITED`.
 */
export function gatewayRateLimited (): FakeResponse {
  return {
    status: 429,
    headers: { 'X-Failure-Category': 'FAILURE CLIENT RATE LIMITED', 'X-Ratelimit-Limit': '360000', 'X-Ratelimit-Remaining': '0' }
  }
}

/** "Some transient 5xx responses (such as 503) may also include a Retry-After header." */
export function serviceUnavailable (retryAfterSeconds?: number): FakeResponse {
  const response = json(503, { code: 503, message: 'Service Unavailable' })
  return retryAfterSeconds === undefined ? response : { ...response, headers: { 'Retry-After': String(retryAfterSeconds) } }
}

/** The informational beta headers the rate-limiting doc shows on successful responses. */
export const BETA_RATE_LIMIT_HEADERS: Readonly<Record<string, string>> = {
  'Beta-RateLimit-Policy': '"global-app-quota";q=65000;w=3600',
  'Beta-RateLimit': '"global-app-quota";r=11000;t=600'
}
