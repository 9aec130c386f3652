/**
 * A faithful fake of Atlassian Cloud for tests: the service-account token endpoint (`POST /oauth/token`, as on
 * auth.atlassian.com) and the API gateway (`/ex/{jira|confluence}/{cloudId}/…`, as on api.atlassian.com), on one real
 * `node:http` server at 127.0.0.1 on a free port. Every path outside those two behaves like a `<site>.atlassian.net`
 * host. Protocol facts and their sources: docs/reference/atlassian.md.
 *
 *   const fake = await startFakeAtlassian({ t, sites: [{ product: 'jira', cloudId: 'c1' }] })
 *   fake.addClient('id', 'secret')
 *   // broker config: tokenUrl = fake.tokenUrl, apiUrl = fake.url
 */
import { createHash, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import {
  BETA_RATE_LIMIT_HEADERS, consumeBody, countAuthorizationHeaders, createRecord, echo, gatewayNotFound, json, matches,
  readTokenRequest, scopeMismatch, send, siteHtmlUnauthorized, unauthorized,
  type FakeResponse, type JsonValue, type Product, type RecordedRequest, type RequestMatcher
} from './fake-atlassian-http.js'
import {
  SiteContent,
  createServiceAccount,
  findBuiltinRoute,
  hasScopes,
  type AccountOptions,
  type GatewayRequest,
  type Identity,
  type IssueInput,
  type PageInput,
  type ScopeRequirement,
  type ServiceAccount,
  type StoredIssue,
  type StoredPage
} from './fake-atlassian-content.js'
import { writeStream } from './fake-atlassian-stream.js'
import { findWorkRoute } from './fake-atlassian-work.js'

export * from './fake-atlassian-http.js'
export * from './fake-atlassian-content.js'
export { streamChunk, streamSha256, type StreamOptions } from './fake-atlassian-stream.js'
export { adfToHtml, TRANSITIONS } from './fake-atlassian-work.js'

// Captured at load so a faked clock (@tapjs/clock) cannot freeze the fake's own delays.
const realSetTimeout = globalThis.setTimeout
const realClearTimeout = globalThis.clearTimeout

export type TokenEndpointMode = 'ok' | 'down' | 'error500' | 'slow' | 'malformed' | 'no-expires-in' | 'absurd-expires-in'

export interface FakeAtlassianOptions {
  /** `expires_in` of issued tokens, and how long they really last. Default 3600 ("valid for 60 minutes"). */
  tokenLifetimeSeconds?: number
  /** Epoch-ms clock for token expiry. Default reads `Date.now()` on each call, so a faked clock applies. */
  now?: () => number
  /** How long the 'slow' token mode waits before answering. Default 2_000 ms. */
  slowTokenDelayMs?: number
  /** `expires_in` sent in 'absurd-expires-in' mode (the token still lives `tokenLifetimeSeconds`). Default ten years.
   * */
  absurdExpiresIn?: number
  /** Bodies up to this size are buffered for handlers; bigger ones are only counted and hashed. Default 1 MiB. */
  maxBufferedBodyBytes?: number
  sites?: ReadonlyArray<{ product: Product, cloudId: string }>
  /** A tap test (or anything with `teardown`): `close()` is registered with it. */
  t?: { teardown: (fn: () => Promise<void>) => void }
}

/** A gateway route added by a test. Its `scopes` replace a built-in route's; without `respond` the built-in (or echo)
 * answers. */
export interface FakeRoute {
  product?: Product
  method?: string
  /** Matched against the gateway-relative path: a string must be equal, a RegExp is tested. */
  path: string | RegExp
  scopes?: ScopeRequirement
  respond?: (request: GatewayRequest) => FakeResponse | Promise<FakeResponse>
}

interface Credential { scopes: readonly string[] | undefined, account: ServiceAccount }
interface Client extends Credential { secret: string }
interface AccessToken { clientId: string, scopes: readonly string[] | undefined, expiresAt: number, revoked: boolean }

const DEFAULTS = {
  tokenLifetimeSeconds: 3600,
  slowTokenDelayMs: 2_000,
  absurdExpiresIn: 315_360_000,
  maxBufferedBodyBytes: 1024 * 1024
}

export class FakeAtlassian {
  /** Every request that reached the fake, in arrival order. */
  readonly requests: RecordedRequest[] = []
  tokenEndpointMode: TokenEndpointMode = 'ok'
  /** Send the informational `Beta-RateLimit*` headers on successful gateway responses. */
  betaRateLimitHeaders = false
  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #options: typeof DEFAULTS & { now: () => number }
  readonly #clients = new Map<string, Client>()
  readonly #apiTokens = new Map<string, Credential>()
  readonly #tokens = new Map<string, AccessToken>()
  readonly #sites = new Set<string>()
  readonly #siteNames = new Map<string, string>()
  readonly #tenantInfoRequests = new Map<string, number>()
  readonly #content = new Map<string, SiteContent>()
  readonly #routes: FakeRoute[] = []
  readonly #queues: Array<{ matcher: RequestMatcher, responses: FakeResponse[] }> = []
  readonly #exchangesByClient = new Map<string, number>()
  #exchanges = 0
  #url = ''

  private constructor (options: FakeAtlassianOptions) {
    this.#options = { ...DEFAULTS, now: () => Date.now(), ...withoutUndefined(options) }
    this.#server = createServer((req, res) => { void this.#handle(req, res) })
    this.#server.on('connection', (socket) => {
      this.#sockets.add(socket)
      socket.once('close', () => this.#sockets.delete(socket))
    })
  }

  static async start (options: FakeAtlassianOptions = {}): Promise<FakeAtlassian> {
    const fake = new FakeAtlassian(options)
    await new Promise<void>((resolve, reject) => {
      fake.#server.once('error', reject)
      fake.#server.listen(0, '127.0.0.1', () => resolve())
    })
    // Never keeps a test process alive on its own.
    fake.#server.unref()
    fake.#url = `http://127.0.0.1:${(fake.#server.address() as AddressInfo).port}`
    for (const site of options.sites ?? []) fake.addSite(site.product, site.cloudId)
    options.t?.teardown(() => fake.close())
    return fake
  }

  /** Base URL: the broker's `apiUrl`, and the "site host" (`/_edge/tenant_info`). */
  get url (): string { return this.#url }
  /** `${url}/oauth/token` */
  get tokenUrl (): string { return `${this.#url}/oauth/token` }
  /** Requests to the token endpoint with method POST, whatever their outcome. */
  get exchanges (): number { return this.#exchanges }
  exchangesFor (clientId: string): number { return this.#exchangesByClient.get(clientId) ?? 0 }
  /** Connections open to the fake right now (a leaked upstream socket shows up here). */
  get openSockets (): number { return this.#sockets.size }

  /** The broker's `atlassian.siteUrl` for named sites: `https://{site}` becomes `${url}/site/{site}`. */
  get siteUrl (): string { return `${this.#url}/site/{site}` }

  /** A named site (`acme.atlassian.net`) whose tenant_info answers `cloudId`; undefined removes it (then 404). */
  setSiteName (host: string, cloudId: string | undefined): void {
    if (cloudId === undefined) this.#siteNames.delete(host)
    else this.#siteNames.set(host, cloudId)
  }

  tenantInfoRequests (host: string): number { return this.#tenantInfoRequests.get(host) ?? 0 }

  addClient (clientId: string, clientSecret: string, options: AccountOptions = {}): ServiceAccount {
    const account = createServiceAccount(clientId, options)
    this.#clients.set(clientId, { secret: clientSecret, scopes: options.scopes, account })
    return account
  }

  /** Deleting a credential also invalidates the tokens minted from it. */
  removeClient (clientId: string): void {
    this.#clients.delete(clientId)
    this.revokeTokensOf(clientId)
  }

  /** Rotation: the old secret is rejected from now on; tokens already minted stay valid. */
  setClientSecret (clientId: string, newSecret: string): void {
    const client = this.#clients.get(clientId)
    if (client === undefined) throw new Error(`fake-atlassian: unknown client ${clientId}`)
    client.secret = newSecret
  }

  revokeTokensOf (clientId: string): void {
    for (const token of this.#tokens.values()) if (token.clientId === clientId) token.revoked = true
  }

  revokeToken (accessToken: string): void {
    const token = this.#tokens.get(accessToken)
    if (token) token.revoked = true
  }

  /** Every access token minted for the client, oldest first (revoked and expired ones included). */
  tokensOf (clientId: string): string[] {
    return [...this.#tokens].filter(([, token]) => token.clientId === clientId).map(([accessToken]) => accessToken)
  }

  /** A scoped API token, accepted as `Bearer <token>` or Basic `email:token` (the email must match). */
  addApiToken (token: string, options: AccountOptions = {}): ServiceAccount {
    const account = createServiceAccount(`api-token-${createHash('sha256').update(token).digest('hex').slice(0, 8)}`, options)
    this.#apiTokens.set(token, { scopes: options.scopes, account })
    return account
  }

  removeApiToken (token: string): void { this.#apiTokens.delete(token) }

  addSite (product: Product, cloudId: string): void {
    this.#sites.add(`${product}/${cloudId}`)
    if (!this.#content.has(cloudId)) this.#content.set(cloudId, new SiteContent())
  }

  addIssue (cloudId: string, input: IssueInput): StoredIssue {
    return this.#site(cloudId).addIssue(input, new Date(this.#options.now()))
  }

  addPage (cloudId: string, input: PageInput): StoredPage {
    return this.#site(cloudId).addPage(input, new Date(this.#options.now()), '557058:fake-author')
  }

  /** Later routes win over earlier ones. */
  addRoute (route: FakeRoute): void { this.#routes.unshift(route) }

  /**
   * The next requests matching `matcher` (any endpoint: token, gateway or site) get these responses, one each, in
   * order, before authentication and routing; afterwards the fake behaves normally again.
   */
  setNextResponses (matcher: RequestMatcher, responses: readonly FakeResponse[]): void {
    this.#queues.push({ matcher, responses: [...responses] })
  }

  /** Clears recorded requests, exchange counts and queued responses, and sets the token endpoint back to 'ok'. */
  reset (): void {
    this.requests.length = 0
    this.#queues.length = 0
    this.#exchanges = 0
    this.#exchangesByClient.clear()
    this.tokenEndpointMode = 'ok'
  }

  /** Stops listening and destroys open sockets, so no test waits on a keep-alive connection. Idempotent. */
  async close (): Promise<void> {
    for (const timer of this.#timers) realClearTimeout(timer)
    this.#timers.clear()
    for (const socket of this.#sockets) socket.destroy()
    if (!this.#server.listening) return
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  #site (cloudId: string): SiteContent {
    const site = this.#content.get(cloudId)
    if (site === undefined) throw new Error(`fake-atlassian: no site ${cloudId}; call addSite first`)
    return site
  }

  #sleep (ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = realSetTimeout(() => {
        this.#timers.delete(timer)
        resolve()
      }, ms)
      this.#timers.add(timer)
    })
  }

  async #handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const record = createRecord(req, this.#options.now())
    this.requests.push(record)
    try {
      const body = await consumeBody(req, record, this.#options.maxBufferedBodyBytes)
      if (record.endpoint === 'token' && record.method === 'POST') {
        record.tokenRequest = readTokenRequest(record, body)
        record.clientId = record.tokenRequest.clientId
        this.#exchanges++
        if (record.clientId !== undefined) {
          this.#exchangesByClient.set(record.clientId, this.exchangesFor(record.clientId) + 1)
        }
      }
      const queue = this.#queues.find((entry) => entry.responses.length > 0 && matches(entry.matcher, record))
      const queued = queue?.responses.shift()
      if (queued) return await this.#reply(res, record, queued)
      if (record.endpoint === 'token') return await this.#token(res, record)
      if (record.endpoint === 'gateway') return await this.#gateway(res, record, body)
      const named = /^\/site\/([^/]+)(\/.*)$/.exec(record.path)
      if (named !== null) return await this.#namedSite(res, record, named[1] ?? '', named[2] ?? '')
      const firstSite = [...this.#sites][0]?.split('/')[1]
      if (record.path !== '/_edge/tenant_info') return await this.#reply(res, record, siteHtmlUnauthorized())
      return await this.#reply(res, record, firstSite ? json(200, { cloudId: firstSite }) : json(404, { message: 'Not Found' }))
    } catch (error) {
      if (res.headersSent) res.destroy()
      else send(res, record, json(500, { code: 500, message: `fake-atlassian: ${String(error)}` }))
    }
  }

  /** `/site/{host}/…` stands for `https://{host}/…`: loopback has one host, so the site name travels in the path. */
  async #namedSite (res: ServerResponse, record: RecordedRequest, host: string, rest: string): Promise<void> {
    if (rest !== '/_edge/tenant_info') return this.#reply(res, record, siteHtmlUnauthorized())
    this.#tenantInfoRequests.set(host, (this.#tenantInfoRequests.get(host) ?? 0) + 1)
    const cloudId = this.#siteNames.get(host)
    // Atlassian answers tenant_info without auth: {"cloudId":"…"}. An unknown site name gets a 404.
    return this.#reply(res, record, cloudId === undefined ? json(404, { message: 'Not Found' }) : json(200, { cloudId }))
  }

  async #reply (res: ServerResponse, record: RecordedRequest, response: FakeResponse): Promise<void> {
    if (response.delayMs !== undefined) await this.#sleep(response.delayMs)
    if (response.destroySocket) res.socket?.destroy()
    else send(res, record, response)
  }

  async #token (res: ServerResponse, record: RecordedRequest): Promise<void> {
    const mode = this.tokenEndpointMode
    const info = record.tokenRequest
    if (info === undefined) return this.#reply(res, record, json(405, { error: 'invalid_request' }, { allow: 'POST' }))
    if (mode === 'down') return this.#reply(res, record, { status: 0, destroySocket: true })
    if (mode === 'error500') return this.#reply(res, record, json(500, { error: 'server_error', error_description: 'Internal Server Error' }))
    if (mode === 'malformed') {
      return this.#reply(res, record, { status: 200, headers: { 'content-type': 'application/json' }, body: '<html><body>Temporarily unavailable</body></html>' })
    }
    if (mode === 'slow') await this.#sleep(this.#options.slowTokenDelayMs)
    if (info.format === 'unreadable') return this.#reply(res, record, json(400, { error: 'invalid_request' }))
    if (info.grantType !== 'client_credentials') return this.#reply(res, record, json(400, { error: 'unsupported_grant_type' }))
    const client = info.clientId === undefined ? undefined : this.#clients.get(info.clientId)
    // The same code Atlassian's 3LO endpoint gives a wrong secret; the status is undocumented (401 chosen).
    if (client === undefined || info.clientSecret !== client.secret) {
      return this.#reply(res, record, json(401, { error: 'access_denied', error_description: 'Unauthorized' }))
    }
    const accessToken = randomBytes(32).toString('base64url')
    const lifetime = this.#options.tokenLifetimeSeconds
    this.#tokens.set(accessToken, { clientId: info.clientId ?? '', scopes: client.scopes, expiresAt: this.#options.now() + lifetime * 1000, revoked: false })
    record.issuedAccessToken = accessToken
    // No refresh_token: Atlassian issues none ("a new access token is obtained by repeating the exchange").
    const grant: Record<string, JsonValue> = { access_token: accessToken, token_type: 'Bearer', expires_in: lifetime }
    if (mode === 'no-expires-in') delete grant.expires_in
    if (mode === 'absurd-expires-in') grant.expires_in = this.#options.absurdExpiresIn
    // RFC 6749 section 5.1: token responses must not be cached.
    return this.#reply(res, record, json(200, grant, { 'cache-control': 'no-store', pragma: 'no-cache' }))
  }

  #authenticate (record: RecordedRequest): Identity | undefined {
    // Node keeps only the first of repeated Authorization headers; a second one is a forwarding bug worth failing on.
    if (countAuthorizationHeaders(record.rawHeaders) !== 1) return undefined
    const credential = record.credential
    if (credential.scheme === 'bearer') {
      const token = this.#tokens.get(credential.token)
      const client = token && this.#clients.get(token.clientId)
      if (token && client && !token.revoked && token.expiresAt > this.#options.now()) {
        return { kind: 'oauth-client', clientId: token.clientId, accessToken: credential.token, scopes: token.scopes, account: client.account }
      }
    }
    const apiToken = credential.scheme === 'bearer' ? credential.token : credential.scheme === 'basic' ? credential.password : ''
    const api = this.#apiTokens.get(apiToken)
    if (api === undefined) return undefined
    if (credential.scheme === 'basic' && credential.username.toLowerCase() !== api.account.email.toLowerCase()) return undefined
    return { kind: 'api-token', apiToken, scopes: api.scopes, account: api.account }
  }

  async #gateway (res: ServerResponse, record: RecordedRequest, body: Buffer | undefined): Promise<void> {
    const identity = this.#authenticate(record)
    if (identity === undefined) return this.#reply(res, record, unauthorized())
    if (identity.kind === 'oauth-client') record.clientId = identity.clientId
    else record.apiToken = identity.apiToken
    const product = record.product
    const cloudId = record.cloudId ?? ''
    const apiPath = record.apiPath ?? '/'
    if ((product !== 'jira' && product !== 'confluence') || !this.#sites.has(`${product}/${cloudId}`)) {
      return this.#reply(res, record, gatewayNotFound())
    }
    const request: GatewayRequest = {
      method: record.method,
      product,
      cloudId,
      apiPath,
      query: new URLSearchParams(record.query),
      headers: record.headers,
      body,
      identity,
      siteBaseUrl: `${this.#url}/ex/${product}/${cloudId}`
    }
    const custom = this.#routes.find((route) => (route.product ?? product) === product &&
      (route.method ?? record.method).toUpperCase() === record.method &&
      (typeof route.path === 'string' ? route.path === apiPath : route.path.test(apiPath)))
    // The MCP tools' routes (fake-atlassian-work.ts) come first: their GET issue and page add what those tools read.
    const builtin = findWorkRoute(product, record.method, apiPath) ?? findBuiltinRoute(product, record.method, apiPath)
    if (!hasScopes(identity.scopes, custom?.scopes ?? builtin?.route.scopes)) {
      return this.#reply(res, record, scopeMismatch())
    }
    const streamBytes = record.method === 'GET' ? /\/stream\/(\d+)$/.exec(apiPath)?.[1] : undefined
    if (custom?.respond === undefined && builtin === undefined && streamBytes !== undefined) {
      const abortAfter = request.query.get('abortAfter')
      const stallAfter = request.query.get('stallAfter')
      record.status = 200
      return writeStream(res, Number(streamBytes), {
        ...(abortAfter === null ? {} : { abortAfter: Number(abortAfter) }),
        ...(stallAfter === null ? {} : { stallAfter: Number(stallAfter) })
      })
    }
    let response: FakeResponse
    if (custom?.respond) response = await custom.respond(request)
    else if (builtin !== undefined) response = builtin.route.handle(request, this.#site(cloudId), builtin.match)
    else if (/\/sink$/.test(apiPath) && (record.method === 'PUT' || record.method === 'POST')) {
      response = json(200, { bytes: record.bodyBytes, sha256: record.bodySha256 ?? '' })
    } else response = json(200, echo(record))
    const headers = { 'atl-traceid': randomBytes(8).toString('hex'), ...(this.betaRateLimitHeaders && response.status < 300 ? BETA_RATE_LIMIT_HEADERS : {}), ...response.headers }
    return this.#reply(res, record, { ...response, headers })
  }
}

function withoutUndefined<T extends object> (value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter((entry) => entry[1] !== undefined)) as Partial<T>
}

export function startFakeAtlassian (options?: FakeAtlassianOptions): Promise<FakeAtlassian> {
  return FakeAtlassian.start(options)
}
