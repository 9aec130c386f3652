/**
 * A Vault-API test double on a real loopback socket (node:http, 127.0.0.1, port 0), faithful to the wire shapes in
 * docs/reference/vault-api.md and to what a real Vault 1.15.0 answers (docs/reference/vault-build.md): KV v2 envelopes
 * and metadata, CAS and custom_metadata errors, the three 404 shapes, 403 texts per server version, sealed 503, token
 * TTL/max-TTL arithmetic (`framework.CalculateTTL`) with its renewal warning, AppRole and Kubernetes logins, a minimal
 * ACL (path globs -> capabilities, HCL `path "..." { capabilities = [...] }` accepted) and fault switches.
 *
 * Time comes from an injectable clock (share the test's ManualClock), so TTL tests never sleep. The `slowMs` switch is
 * the one exception: it delays on real time, because it exists to trip the client's real socket timeout.
 *
 * A Node server cannot receive the `LIST` verb (llhttp rejects it), so clients must send `GET ?list=true`; `handle()`
 * still maps `LIST` for in-process callers.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto'
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'

export type Capability = 'create' | 'read' | 'update' | 'patch' | 'delete' | 'list' | 'sudo' | 'deny'
/** '1.15': a dead token gets 403 "permission denied" only. '1.17': "invalid token" is added (Vault >= 1.17.0). */
export type FakeVaultVersion = '1.15' | '1.17'
export type PolicyRules = Record<string, Capability[]>

export interface FakeVaultOptions {
  clock?: { now(): number }
  version?: FakeVaultVersion
  rootToken?: string
  kvMounts?: string[]
  /** Serve HTTPS with this key and certificate (PEM). */
  tls?: { key: string | Buffer, cert: string | Buffer }
}

export interface FakeVaultRequest {
  method: string
  path: string
  query: string
  /** Logical route name, e.g. `login:approle`, `kv:read`, `metadata:list`, `token:renew-self`, `health`. */
  route: string
  status: number
  namespace: string | undefined
  token: string | undefined
}

export interface FakeVaultReply { status: number, body: string, route: string }

interface FakeToken {
  id: string
  accessor: string
  policies: string[]
  root: boolean
  issueTime: number
  expireTime: number | undefined
  creationTtl: number
  /** Seconds: the backend TTL used when a renewal names no increment. */
  ttl: number
  maxTtl: number
  explicitMaxTtl: number
  period: number
  renewable: boolean
  revoked: boolean
  path: string
  meta: Record<string, string>
}

interface AppRole {
  name: string
  mount: string
  roleId: string
  secretIds: Map<string, number | undefined>
  policies: string[]
  tokenTtl: number
  tokenMaxTtl: number
  tokenPeriod: number
  secretIdTtl: number
}
interface KubernetesRole {
  name: string
  mount: string
  boundServiceAccountNames: string[]
  boundServiceAccountNamespaces: string[]
  audience: string | undefined
  policies: string[]
  tokenTtl: number
  tokenMaxTtl: number
}
interface KvVersion {
  data: Record<string, unknown> | null
  createdTime: number
  deletionTime: number
  destroyed: boolean
}
interface KvKey {
  createdTime: number
  updatedTime: number
  currentVersion: number
  oldestVersion: number
  maxVersions: number
  casRequired: boolean
  deleteVersionAfter: number
  customMetadata: Record<string, string> | null
  versions: Map<number, KvVersion>
}
interface KvMount { maxVersions: number, casRequired: boolean, deleteVersionAfter: number, keys: Map<string, KvKey> }
interface Reply { status: number, body?: unknown, emptyBody?: boolean, route?: string }

const SYSTEM_DEFAULT_TTL = 2_764_800
const SYSTEM_MAX_TTL = 2_764_800
const DEFAULT_MAX_VERSIONS = 10
const DEFAULT_POLICY: PolicyRules = {
  'auth/token/lookup-self': ['read'],
  'auth/token/renew-self': ['update'],
  'auth/token/revoke-self': ['update']
}

const errors = (status: number, ...messages: string[]): Reply => ({ status, body: { errors: messages } })
const multiError = (messages: string[]): string =>
  `${messages.length} error${messages.length === 1 ? '' : 's'} occurred:\n${messages.map((m) => `\t* ${m}`).join('\n')}\n\n`
const base64url = (value: string | Buffer): string => Buffer.from(value).toString('base64url')

/** Go's `time.Duration.String()` for whole seconds: 20s, 1m30s, 1h0m0s. */
export function goDuration (seconds: number): string {
  const whole = Math.max(0, Math.trunc(seconds))
  const h = Math.floor(whole / 3600)
  const m = Math.floor((whole % 3600) / 60)
  const s = whole % 60
  if (h > 0) return `${h}h${m}m${s}s`
  if (m > 0) return `${m}m${s}s`
  return `${s}s`
}

/** Seconds from an int, a numeric string or a Go duration string ("1h", "90m", "20s"); undefined when unparsable. */
function parseSeconds (value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return Math.trunc(value)
  if (typeof value !== 'string' || value === '') return undefined
  if (/^\d+$/.test(value)) return Number(value)
  const match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(value)
  if (match === null) return undefined
  return Number(match[1] ?? 0) * 3600 + Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0)
}

/** Go `strconv.ParseBool`. */
function parseBool (value: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false
  return undefined
}

/** Parses `path "..." { capabilities = [...] }` blocks (comments allowed); enough HCL for policy files. */
export function parsePolicyHcl (text: string): PolicyRules {
  const rules: PolicyRules = {}
  const uncommented = text.replace(/#[^\n]*/g, '')
  for (const block of uncommented.matchAll(/path\s+"([^"]+)"\s*\{([^}]*)\}/g)) {
    const caps = /capabilities\s*=\s*\[([^\]]*)\]/.exec(block[2] ?? '')
    const list = [...(caps?.[1] ?? '').matchAll(/"([a-z]+)"/g)].map((m) => m[1] as Capability)
    rules[block[1] ?? ''] = [...(rules[block[1] ?? ''] ?? []), ...list]
  }
  return rules
}

function patternMatches (pattern: string, path: string): boolean {
  const source = pattern.split('').map((ch, i) => {
    if (ch === '*' && i === pattern.length - 1) return '.*'
    if (ch === '+') return '[^/]+'
    return ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  }).join('')
  return new RegExp(`^${source}$`).test(path)
}

export class FakeVault {
  readonly rootToken: string
  /** Fault switches. */
  sealed = false
  slowMs = 0
  version: FakeVaultVersion
  readonly requests: FakeVaultRequest[] = []
  /** Every JWT presented to a Kubernetes login, in order. */
  readonly kubernetesJwtsSeen: string[] = []
  /** Tokens issued by logins, in order (the last one is the client's current token). */
  readonly issuedTokens: string[] = []

  #clock: { now(): number }
  #server: http.Server | https.Server
  #scheme: 'http' | 'https'
  #port = 0
  #slowTimers = new Set<NodeJS.Timeout>()
  #tokens = new Map<string, FakeToken>()
  #policies = new Map<string, PolicyRules>([['default', DEFAULT_POLICY]])
  #appRoles = new Map<string, AppRole>()
  #kubernetesRoles = new Map<string, KubernetesRole>()
  #kvMounts: Set<string>
  #kvState = new Map<string, KvMount>()
  #jwtKey = randomBytes(32)
  #clusterId = randomUUID()

  private constructor (options: FakeVaultOptions) {
    this.#clock = options.clock ?? { now: () => Date.now() }
    this.version = options.version ?? '1.15'
    this.rootToken = options.rootToken ?? 'root'
    this.#kvMounts = new Set(options.kvMounts ?? ['secret'])
    const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      void this.#serve(req, res)
    }
    this.#server = options.tls === undefined ? http.createServer(listener) : https.createServer(options.tls, listener)
    this.#scheme = options.tls === undefined ? 'http' : 'https'
    this.#tokens.set(this.rootToken, {
      id: this.rootToken,
      accessor: randomUUID(),
      policies: ['root'],
      root: true,
      issueTime: this.#clock.now(),
      expireTime: undefined,
      creationTtl: 0,
      ttl: 0,
      maxTtl: 0,
      explicitMaxTtl: 0,
      period: 0,
      renewable: false,
      revoked: false,
      path: 'auth/token/root',
      meta: {}
    })
  }

  static async start (options: FakeVaultOptions = {}): Promise<FakeVault> {
    // A proxy from the environment must never sit between a client and the loopback fake (axios honours HTTP_PROXY).
    process.env.NO_PROXY = ['127.0.0.1', 'localhost', process.env.NO_PROXY].filter(Boolean).join(',')
    const fake = new FakeVault(options)
    await fake.up()
    return fake
  }

  get address (): string {
    return `${this.#scheme}://127.0.0.1:${this.#port}`
  }

  // ---- fault switches
  // -------------------------------------------------------------------------------------------------

  /** Starts listening (again, on the same port after `down()`). */
  async up (): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen(this.#port, '127.0.0.1', () => {
        this.#server.off('error', reject)
        resolve()
      })
    })
    this.#port = (this.#server.address() as AddressInfo).port
  }

  /** Stops listening and destroys every open socket: clients get ECONNREFUSED (or a reset on a kept-alive socket). */
  async down (): Promise<void> {
    for (const timer of this.#slowTimers) clearTimeout(timer)
    this.#slowTimers.clear()
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()))
    this.#server.closeAllConnections()
    await closed
  }

  async close (): Promise<void> {
    if (this.#server.listening) await this.down()
  }

  revokeToken (id: string): void {
    const token = this.#tokens.get(id)
    if (token !== undefined) token.revoked = true
  }

  // ---- identities
  // -----------------------------------------------------------------------------------------------------

  addPolicy (name: string, rules: PolicyRules): void {
    this.#policies.set(name, rules)
  }

  addPolicyHcl (name: string, hcl: string): void {
    this.#policies.set(name, parsePolicyHcl(hcl))
  }

  /** Creates a token the way `vault token create` does (orphan, service). TTLs in seconds; 0 maxTtl = system max. */
  createToken (options: {
    policies: string[]
    ttl: number
    maxTtl?: number
    explicitMaxTtl?: number
    period?: number
    renewable?: boolean
  }): string {
    return this.#issue({
      policies: options.policies,
      ttl: options.ttl,
      maxTtl: options.maxTtl ?? 0,
      explicitMaxTtl: options.explicitMaxTtl ?? 0,
      period: options.period ?? 0,
      renewable: options.renewable ?? true,
      path: 'auth/token/create',
      meta: {}
    }).id
  }

  /** Like `vault write auth/approle/role/<name> ...` plus reading role-id and generating a secret-id. TTLs in seconds.
   * */
  addAppRole (options: {
    name: string
    mount?: string
    policies: string[]
    tokenTtl?: number
    tokenMaxTtl?: number
    tokenPeriod?: number
    secretIdTtl?: number
  }): { roleId: string, secretId: string } {
    const role: AppRole = {
      name: options.name,
      mount: options.mount ?? 'approle',
      roleId: randomUUID(),
      secretIds: new Map(),
      policies: options.policies,
      tokenTtl: options.tokenTtl ?? 0,
      tokenMaxTtl: options.tokenMaxTtl ?? 0,
      tokenPeriod: options.tokenPeriod ?? 0,
      secretIdTtl: options.secretIdTtl ?? 0
    }
    this.#appRoles.set(role.roleId, role)
    return { roleId: role.roleId, secretId: this.newSecretId(role.roleId) }
  }

  newSecretId (roleId: string): string {
    const role = this.#appRoles.get(roleId)
    if (role === undefined) throw new Error(`no AppRole with role id ${roleId}`)
    const secretId = randomUUID()
    role.secretIds.set(secretId, role.secretIdTtl > 0 ? this.#clock.now() + role.secretIdTtl * 1000 : undefined)
    return secretId
  }

  destroySecretId (roleId: string, secretId: string): void {
    this.#appRoles.get(roleId)?.secretIds.delete(secretId)
  }

  addKubernetesRole (options: {
    name: string
    mount?: string
    boundServiceAccountNames: string[]
    boundServiceAccountNamespaces: string[]
    audience?: string
    policies: string[]
    tokenTtl?: number
    tokenMaxTtl?: number
  }): void {
    const mount = options.mount ?? 'kubernetes'
    this.#kubernetesRoles.set(`${mount}/${options.name}`, {
      name: options.name,
      mount,
      boundServiceAccountNames: options.boundServiceAccountNames,
      boundServiceAccountNamespaces: options.boundServiceAccountNamespaces,
      audience: options.audience,
      policies: options.policies,
      tokenTtl: options.tokenTtl ?? 0,
      tokenMaxTtl: options.tokenMaxTtl ?? 0
    })
  }

  /** A projected service-account token signed with this fake's key (the fake's stand-in for a TokenReview). */
  serviceAccountJwt (options: { namespace: string, name: string, audience?: string, ttlSeconds?: number }): string {
    const nowSeconds = Math.floor(this.#clock.now() / 1000)
    const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))
    const payload = base64url(
      JSON.stringify({
        aud: [options.audience ?? 'https://kubernetes.default.svc'],
        exp: nowSeconds + (options.ttlSeconds ?? 3600),
        iat: nowSeconds,
        iss: 'https://kubernetes.default.svc',
        sub: `system:serviceaccount:${options.namespace}:${options.name}`,
        'kubernetes.io': { namespace: options.namespace, serviceaccount: { name: options.name, uid: randomUUID() } }
      })
    )
    return `${header}.${payload}.${base64url(createHmac('sha256', this.#jwtKey).update(`${header}.${payload}`).digest())}`
  }

  // ---- observation
  // ----------------------------------------------------------------------------------------------------

  count (route: string): number {
    return this.requests.filter((request) => request.route === route).length
  }

  resetRequests (): void {
    this.requests.length = 0
  }

  tokenTtlSeconds (id: string): number | undefined {
    const token = this.#tokens.get(id)
    if (token?.expireTime === undefined) return undefined
    return Math.max(0, Math.floor((token.expireTime - this.#clock.now()) / 1000))
  }

  // ---- HTTP
  // -----------------------------------------------------------------------------------------------------------

  async #serve (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    if (this.slowMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.#slowTimers.delete(timer)
          resolve()
        }, this.slowMs)
        this.#slowTimers.add(timer)
      })
    }
    if (res.destroyed) return
    const reply = this.handle(req.method ?? 'GET', req.url ?? '/', req.headers, Buffer.concat(chunks).toString('utf8'))
    res.writeHead(reply.status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' })
    res.end(reply.body)
  }

  /** The whole server as a function: usable in process (where `LIST` can be sent) and by the socket server above. */
  handle (method: string, url: string, headers: http.IncomingHttpHeaders, bodyText: string): FakeVaultReply {
    const parsed = new URL(url, 'http://fake-vault')
    const token = headerValue(headers['x-vault-token']) ?? headerValue(headers.authorization)?.replace(/^Bearer /i, '')
    const namespace = headerValue(headers['x-vault-namespace'])
    const reply = this.#route(method.toUpperCase(), parsed, headers, bodyText, token, namespace)
    const route = reply.route ?? 'unknown'
    this.requests.push({
      method,
      path: parsed.pathname,
      query: parsed.search,
      route,
      status: reply.status,
      namespace,
      token
    })
    const body =
      reply.emptyBody === true || (reply.body === undefined && reply.status === 204)
        ? ''
        : JSON.stringify(reply.body ?? null)
    return { status: reply.status, body, route }
  }

  #route (
    method: string,
    url: URL,
    headers: http.IncomingHttpHeaders,
    bodyText: string,
    tokenId: string | undefined,
    namespace: string | undefined
  ): Reply {
    if (!url.pathname.startsWith('/v1/')) return errors(404)
    const path = url.pathname
      .slice(4)
      .split('/')
      .map((segment) => decodeURIComponent(segment))
      .join('/')
    const listParam = url.searchParams.get('list')
    let list = method === 'LIST'
    if (method === 'GET' && listParam !== null) {
      const parsedList = parseBool(listParam)
      if (parsedList === undefined) {
        return errors(
          400,
          `error parsing list parameter: strconv.ParseBool: parsing ${JSON.stringify(listParam)}: invalid syntax`
        )
      }
      list = parsedList
    }
    if (path === 'sys/health') return { ...this.#health(url), route: 'health' }
    if (this.sealed) return { ...errors(503, 'Vault is sealed'), route: routeName(path, method, list) }
    if (
      method === 'PATCH' &&
      !(headerValue(headers['content-type']) ?? '').startsWith('application/merge-patch+json')
    ) {
      return {
        ...errors(
          415,
          `PATCH requires Content-Type of application/merge-patch+json, provided ${headerValue(headers['content-type']) ?? ''}`
        ),
        route: routeName(path, method, list)
      }
    }
    let body: Record<string, unknown> | null = null
    if (bodyText.trim() !== '') {
      try {
        body = JSON.parse(bodyText) as Record<string, unknown>
      } catch {
        return errors(400, 'failed to parse JSON input: invalid character')
      }
    }
    const login = /^auth\/(.*)\/login$/.exec(path)
    if (login !== null && (method === 'POST' || method === 'PUT')) return this.#login(login[1] ?? '', body)

    const operationPath = list && !path.endsWith('/') ? `${path}/` : path
    const capability = this.#capabilityFor(method, list, operationPath, namespace)
    const route = routeName(path, method, list)
    const token = tokenId === undefined ? undefined : this.#tokens.get(tokenId)
    if (token === undefined || !this.#isLive(token)) {
      return {
        ...(this.version === '1.15'
          ? errors(403, 'permission denied')
          : errors(403, multiError(['permission denied', 'invalid token']))),
        route
      }
    }
    if (capability === undefined) return { ...errors(405, 'unsupported operation'), route }
    if (!this.#allowed(token, operationPath, capability)) { return { ...errors(403, multiError(['permission denied'])), route } }

    if (path.startsWith('auth/token/')) { return { ...this.#tokenSelf(path.slice('auth/token/'.length), token, body), route } }
    const [mount = '', operation = '', ...rest] = path.split('/')
    if (!this.#kvMounts.has(mount)) { return { ...errors(404, `no handler for route "${path}". route entry not found.`), route } }
    const kv = this.#mount(namespace, mount)
    const key = rest.join('/')
    return { ...this.#kv(kv, operation, key, method, list, body, url), route }
  }

  #health (url: URL): Reply {
    const code = (name: string, fallback: number): number => Number(url.searchParams.get(name) ?? fallback)
    return {
      status: this.sealed ? code('sealedcode', 503) : code('activecode', 200),
      body: {
        initialized: true,
        sealed: this.sealed,
        standby: false,
        performance_standby: false,
        replication_performance_mode: 'disabled',
        replication_dr_mode: 'disabled',
        server_time_utc: Math.floor(this.#clock.now() / 1000),
        version: this.version === '1.15' ? '1.15.0' : '1.17.0',
        enterprise: false,
        ...(this.sealed ? {} : { cluster_name: 'vault-cluster-fake', cluster_id: this.#clusterId }),
        echo_duration_ms: 0,
        clock_skew_ms: 0
      }
    }
  }

  // ---- tokens and logins
  // ----------------------------------------------------------------------------------------------

  #isLive (token: FakeToken): boolean {
    return !token.revoked && (token.expireTime === undefined || this.#clock.now() < token.expireTime)
  }

  #issue (spec: {
    policies: string[]
    ttl: number
    maxTtl: number
    explicitMaxTtl: number
    period: number
    renewable: boolean
    path: string
    meta: Record<string, string>
  }): FakeToken {
    const now = this.#clock.now()
    const maxTtl = Math.min(
      spec.maxTtl > 0 ? spec.maxTtl : SYSTEM_MAX_TTL,
      spec.explicitMaxTtl > 0 ? spec.explicitMaxTtl : SYSTEM_MAX_TTL
    )
    const first = Math.min(spec.period > 0 ? spec.period : spec.ttl > 0 ? spec.ttl : SYSTEM_DEFAULT_TTL, maxTtl)
    const token: FakeToken = {
      id: `hvs.${randomBytes(18).toString('base64url')}`,
      accessor: randomBytes(12).toString('base64url'),
      policies: spec.policies,
      root: false,
      issueTime: now,
      expireTime: now + first * 1000,
      creationTtl: first,
      ttl: spec.ttl,
      maxTtl: spec.maxTtl,
      explicitMaxTtl: spec.explicitMaxTtl,
      period: spec.period,
      renewable: spec.renewable,
      revoked: false,
      path: spec.path,
      meta: spec.meta
    }
    this.#tokens.set(token.id, token)
    return token
  }

  #authBlock (token: FakeToken, leaseDuration: number): Record<string, unknown> {
    return {
      client_token: token.id,
      accessor: token.accessor,
      policies: ['default', ...token.policies],
      token_policies: ['default', ...token.policies],
      metadata: token.meta,
      lease_duration: leaseDuration,
      renewable: token.renewable,
      entity_id: randomUUID(),
      token_type: 'service',
      orphan: true,
      mfa_requirement: null,
      num_uses: 0
    }
  }

  #login (mount: string, body: Record<string, unknown> | null): Reply {
    if ([...this.#appRoles.values()].some((role) => role.mount === mount)) { return { ...this.#appRoleLogin(mount, body), route: 'login:approle' } }
    if ([...this.#kubernetesRoles.values()].some((role) => role.mount === mount)) { return { ...this.#kubernetesLogin(mount, body), route: 'login:kubernetes' } }
    return {
      ...errors(404, `no handler for route "auth/${mount}/login". route entry not found.`),
      route: 'login:unknown'
    }
  }

  #loggedIn (
    role: { policies: string[], tokenTtl: number, tokenMaxTtl: number, tokenPeriod?: number },
    path: string,
    meta: Record<string, string>
  ): Reply {
    const token = this.#issue({
      policies: role.policies,
      ttl: role.tokenTtl,
      maxTtl: role.tokenMaxTtl,
      explicitMaxTtl: 0,
      period: role.tokenPeriod ?? 0,
      renewable: true,
      path,
      meta
    })
    this.issuedTokens.push(token.id)
    return { status: 200, body: envelope({ auth: this.#authBlock(token, token.creationTtl) }) }
  }

  #appRoleLogin (mount: string, body: Record<string, unknown> | null): Reply {
    const roleId = body?.role_id
    if (typeof roleId !== 'string' || roleId === '') return errors(400, 'missing role_id')
    const role = this.#appRoles.get(roleId)
    if (role === undefined || role.mount !== mount) { return errors(400, this.version === '1.15' ? 'invalid role ID' : 'invalid role or secret ID') }
    const secretId = body?.secret_id
    if (typeof secretId !== 'string' || secretId === '') return errors(400, 'missing secret_id')
    const expires = role.secretIds.get(secretId)
    const known = role.secretIds.has(secretId) && (expires === undefined || this.#clock.now() < expires)
    if (!known) return errors(400, this.version === '1.15' ? 'invalid secret id' : 'invalid role or secret ID')
    return this.#loggedIn(role, `auth/${mount}/login`, { role_name: role.name })
  }

  #kubernetesLogin (mount: string, body: Record<string, unknown> | null): Reply {
    const roleName = body?.role
    if (typeof roleName !== 'string' || roleName === '') return errors(400, 'missing role')
    const jwt = body?.jwt
    if (typeof jwt !== 'string' || jwt === '') return errors(400, 'missing jwt')
    this.kubernetesJwtsSeen.push(jwt)
    const role = this.#kubernetesRoles.get(`${mount}/${roleName}`)
    if (role === undefined) return errors(400, `invalid role name "${roleName}"`)
    const [header = '', payload = '', signature = ''] = jwt.split('.')
    const expected = base64url(createHmac('sha256', this.#jwtKey).update(`${header}.${payload}`).digest())
    if (signature !== expected) return errors(403, 'permission denied')
    let claims: {
      exp?: number
      aud?: string[]
      'kubernetes.io'?: { namespace?: string, serviceaccount?: { name?: string } }
    }
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof claims
    } catch {
      return errors(403, 'permission denied')
    }
    if ((claims.exp ?? 0) * 1000 <= this.#clock.now()) return errors(403, 'permission denied')
    const name = claims['kubernetes.io']?.serviceaccount?.name ?? ''
    const namespace = claims['kubernetes.io']?.namespace ?? ''
    const bound = (list: string[], value: string): boolean => list.includes('*') || list.includes(value)
    if (!bound(role.boundServiceAccountNames, name)) return errors(403, 'service account name not authorized')
    if (!bound(role.boundServiceAccountNamespaces, namespace)) return errors(403, 'namespace not authorized')
    if (role.audience !== undefined && !(claims.aud ?? []).includes(role.audience)) { return errors(403, 'invalid audience (aud) claim: audience claim does not match any expected audience') }
    return this.#loggedIn(role, `auth/${mount}/login`, {
      role: role.name,
      service_account_name: name,
      service_account_namespace: namespace
    })
  }

  #tokenSelf (operation: string, token: FakeToken, body: Record<string, unknown> | null): Reply {
    const now = this.#clock.now()
    if (operation === 'lookup-self') {
      const ttl = token.expireTime === undefined ? 0 : Math.max(0, Math.floor((token.expireTime - now) / 1000))
      return {
        status: 200,
        body: envelope({
          data: {
            accessor: token.accessor,
            creation_time: Math.floor(token.issueTime / 1000),
            creation_ttl: token.creationTtl,
            display_name: token.path.replace(/\//g, '-'),
            entity_id: '',
            expire_time: token.expireTime === undefined ? null : new Date(token.expireTime).toISOString(),
            explicit_max_ttl: token.explicitMaxTtl,
            id: token.id,
            issue_time: new Date(token.issueTime).toISOString(),
            meta: token.meta,
            num_uses: 0,
            orphan: true,
            path: token.path,
            policies: token.root ? ['root'] : ['default', ...token.policies],
            renewable: token.renewable,
            ttl,
            type: 'service',
            ...(token.period > 0 ? { period: token.period } : {})
          }
        })
      }
    }
    if (operation === 'revoke-self') {
      token.revoked = true
      return { status: 204 }
    }
    if (operation !== 'renew-self') { return errors(404, `no handler for route "auth/token/${operation}". route entry not found.`) }
    if (!token.renewable || token.root) return errors(400, 'lease is not renewable')
    const increment = parseSeconds(body?.increment) ?? 0
    const warnings: string[] = []
    // framework.CalculateTTL (hashicorp/vault sdk/framework/lease.go)
    let maxTtl = SYSTEM_MAX_TTL
    if (token.maxTtl > 0 && token.maxTtl < maxTtl) maxTtl = token.maxTtl
    if (token.explicitMaxTtl > 0 && token.explicitMaxTtl < maxTtl) maxTtl = token.explicitMaxTtl
    let ttl: number
    let maxValidTime: number | undefined
    if (token.period > 0) {
      ttl = token.period
      if (ttl > maxTtl) {
        warnings.push(
          `period of "${goDuration(ttl)}" exceeded the effective max_ttl of "${goDuration(maxTtl)}"; period value is capped accordingly`
        )
        ttl = maxTtl
      }
      if (token.explicitMaxTtl > 0) maxValidTime = token.issueTime + token.explicitMaxTtl * 1000
    } else {
      ttl = increment > 0 ? increment : token.ttl > 0 ? token.ttl : SYSTEM_DEFAULT_TTL
      maxValidTime = token.issueTime + maxTtl * 1000
    }
    if (maxValidTime !== undefined) {
      const maxValidTtl = Math.floor((maxValidTime - now) / 1000)
      if (maxValidTtl <= 0) return errors(400, 'past the max TTL, cannot renew')
      if (maxValidTtl < ttl) {
        warnings.push(
          `TTL of "${goDuration(ttl)}" exceeded the effective max_ttl of "${goDuration(maxValidTtl)}"; TTL value is capped accordingly`
        )
        ttl = maxValidTtl
      }
    }
    token.expireTime = now + ttl * 1000
    return { status: 200, body: envelope({ auth: this.#authBlock(token, ttl), warnings }) }
  }

  // ---- ACL
  // ------------------------------------------------------------------------------------------------------------

  #capabilityFor (method: string, list: boolean, path: string, namespace: string | undefined): Capability | undefined {
    if (list) return 'list'
    switch (method) {
      case 'GET':
        return 'read'
      case 'DELETE':
        return 'delete'
      case 'PATCH':
        return 'patch'
      case 'POST':
      case 'PUT':
        return this.#exists(path, namespace) ? 'update' : 'create'
      default:
        return undefined
    }
  }

  /** KV v2's ExistenceCheck: a write to a key that does not exist needs `create`, otherwise `update`. */
  #exists (path: string, namespace: string | undefined): boolean {
    const [mount = '', operation = '', ...rest] = path.split('/')
    if (!this.#kvMounts.has(mount)) return true
    if (operation !== 'data' && operation !== 'metadata') return true
    return this.#mount(namespace, mount).keys.has(rest.join('/'))
  }

  #allowed (token: FakeToken, path: string, capability: Capability): boolean {
    if (token.root) return true
    const merged = new Map<string, Set<Capability>>()
    for (const name of ['default', ...token.policies]) {
      for (const [pattern, caps] of Object.entries(this.#policies.get(name) ?? {})) {
        if (!patternMatches(pattern, path)) continue
        const set = merged.get(pattern) ?? new Set<Capability>()
        for (const cap of caps) set.add(cap)
        merged.set(pattern, set)
      }
    }
    // The most specific rule wins: an exact path first, then the longest literal prefix before a wildcard.
    const literalPrefix = (pattern: string): number =>
      /[*+]/.test(pattern) ? pattern.search(/[*+]/) : Number.MAX_SAFE_INTEGER
    const best = [...merged.keys()].sort((a, b) => literalPrefix(b) - literalPrefix(a) || b.length - a.length)[0]
    const caps = best === undefined ? undefined : merged.get(best)
    return caps !== undefined && !caps.has('deny') && caps.has(capability)
  }

  // ---- KV v2
  // ----------------------------------------------------------------------------------------------------------

  #mount (namespace: string | undefined, mount: string): KvMount {
    const ns = (namespace ?? '').replace(/^\/+|\/+$/g, '')
    const id = `${ns === '' ? '' : `${ns}/`}${mount}`
    let state = this.#kvState.get(id)
    if (state === undefined) {
      state = { maxVersions: 0, casRequired: false, deleteVersionAfter: 0, keys: new Map() }
      this.#kvState.set(id, state)
    }
    return state
  }

  #kv (
    mount: KvMount,
    operation: string,
    key: string,
    method: string,
    list: boolean,
    body: Record<string, unknown> | null,
    url: URL
  ): Reply {
    const now = this.#clock.now()
    const entry = mount.keys.get(key)
    if (operation === 'config') {
      if (method === 'GET') {
        return {
          status: 200,
          body: envelope({
            data: {
              cas_required: mount.casRequired,
              delete_version_after: goDuration(mount.deleteVersionAfter),
              max_versions: mount.maxVersions
            }
          })
        }
      }
      if (typeof body?.max_versions === 'number') mount.maxVersions = body.max_versions
      if (typeof body?.cas_required === 'boolean') mount.casRequired = body.cas_required
      return { status: 204 }
    }
    if (operation === 'data') {
      if (method === 'GET') return this.#readVersion(entry, Number(url.searchParams.get('version') ?? 0))
      if (method === 'POST' || method === 'PUT') return this.#write(mount, key, entry, body)
      if (method === 'PATCH') {
        const current = entry?.versions.get(entry.currentVersion)
        if (entry === undefined || current === undefined || current.data === null || this.#isDeleted(current)) {
          return errors(404)
        }
        const patch = (body?.data ?? {}) as Record<string, unknown>
        const merged: Record<string, unknown> = { ...current.data }
        for (const [name, value] of Object.entries(patch)) {
          if (value === null) delete merged[name]
          else merged[name] = value
        }
        return this.#write(mount, key, entry, { data: merged, options: body?.options ?? {} })
      }
      if (method === 'DELETE') {
        const current = entry?.versions.get(entry.currentVersion)
        if (current !== undefined && current.deletionTime === 0) current.deletionTime = now
        return { status: 204 }
      }
    }
    if (operation === 'delete' || operation === 'undelete' || operation === 'destroy') {
      const versions = Array.isArray(body?.versions) ? (body.versions as unknown[]).map(Number) : []
      if (versions.length === 0) { return errors(400, operation === 'delete' ? 'No version number provided' : 'no version number provided') }
      for (const number of versions) {
        const version = entry?.versions.get(number)
        if (version === undefined) continue
        if (operation === 'delete' && version.deletionTime === 0) version.deletionTime = now
        if (operation === 'undelete' && !version.destroyed) version.deletionTime = 0
        if (operation === 'destroy') {
          version.destroyed = true
          version.data = null
        }
      }
      return { status: 204 }
    }
    if (operation === 'metadata') {
      if (list) return this.#list(mount, key)
      if (method === 'GET') { return entry === undefined ? errors(404) : { status: 200, body: envelope({ data: this.#metadataView(entry) }) } }
      if (method === 'POST' || method === 'PUT') return this.#writeMetadata(mount, key, entry, body, false)
      if (method === 'PATCH') {
        return entry === undefined
          ? { status: 404, emptyBody: true }
          : this.#writeMetadata(mount, key, entry, body, true)
      }
      if (method === 'DELETE') {
        mount.keys.delete(key)
        return { status: 204 }
      }
    }
    return errors(404, `no handler for route "${operation}/${key}". route entry not found.`)
  }

  #isDeleted (version: KvVersion): boolean {
    return version.destroyed || (version.deletionTime !== 0 && version.deletionTime <= this.#clock.now())
  }

  #versionMetadata (entry: KvKey, number: number, version: KvVersion): Record<string, unknown> {
    return {
      created_time: timestamp(version.createdTime),
      custom_metadata: entry.customMetadata,
      deletion_time: version.deletionTime === 0 ? '' : timestamp(version.deletionTime),
      destroyed: version.destroyed,
      version: number
    }
  }

  #readVersion (entry: KvKey | undefined, requested: number): Reply {
    if (entry === undefined) return errors(404)
    const number = requested > 0 ? requested : entry.currentVersion
    const version = entry.versions.get(number)
    if (version === undefined) return errors(404)
    const metadata = this.#versionMetadata(entry, number, version)
    // A soft-deleted or destroyed version: 404 with the full envelope and `data: null` (RespondWithStatusCode).
    if (this.#isDeleted(version)) { return { status: 404, body: { ...envelope({ data: { data: null, metadata } }), mount_type: '' } } }
    return { status: 200, body: envelope({ data: { data: version.data, metadata } }) }
  }

  #write (mount: KvMount, key: string, existing: KvKey | undefined, body: Record<string, unknown> | null): Reply {
    if (body === null || body.data === undefined || body.data === null) return errors(400, 'no data provided')
    const options = (body.options ?? {}) as Record<string, unknown>
    const casRaw = options.cas
    const casRequired = mount.casRequired || (existing?.casRequired ?? false)
    if (casRaw === undefined && casRequired) return errors(400, 'check-and-set parameter required for this call')
    if (casRaw !== undefined) {
      const cas =
        typeof casRaw === 'number'
          ? casRaw
          : typeof casRaw === 'string' && /^\d+$/.test(casRaw)
            ? Number(casRaw)
            : Number.NaN
      if (!Number.isInteger(cas)) return errors(400, 'error parsing check-and-set parameter')
      if (cas !== (existing?.currentVersion ?? 0)) { return errors(400, 'check-and-set parameter did not match the current version') }
    }
    const now = this.#clock.now()
    const entry: KvKey = existing ?? emptyKey(now)
    mount.keys.set(key, entry)
    const number = entry.currentVersion + 1
    const after = entry.deleteVersionAfter > 0 ? entry.deleteVersionAfter : mount.deleteVersionAfter
    const version: KvVersion = {
      data: body.data as Record<string, unknown>,
      createdTime: now,
      deletionTime: after > 0 ? now + after * 1000 : 0,
      destroyed: false
    }
    entry.versions.set(number, version)
    entry.currentVersion = number
    entry.updatedTime = now
    if (entry.oldestVersion === 0) entry.oldestVersion = number
    const max =
      entry.maxVersions > 0 ? entry.maxVersions : mount.maxVersions > 0 ? mount.maxVersions : DEFAULT_MAX_VERSIONS
    while (entry.versions.size > max) {
      const oldest = Math.min(...entry.versions.keys())
      entry.versions.delete(oldest)
      entry.oldestVersion = Math.min(...entry.versions.keys())
    }
    return { status: 200, body: envelope({ data: this.#versionMetadata(entry, number, version) }) }
  }

  #metadataView (entry: KvKey): Record<string, unknown> {
    const versions: Record<string, unknown> = {}
    for (const [number, version] of [...entry.versions.entries()].sort((a, b) => a[0] - b[0])) {
      versions[String(number)] = {
        created_time: timestamp(version.createdTime),
        deletion_time: version.deletionTime === 0 ? '' : timestamp(version.deletionTime),
        destroyed: version.destroyed
      }
    }
    return {
      cas_required: entry.casRequired,
      created_time: timestamp(entry.createdTime),
      current_version: entry.currentVersion,
      custom_metadata: entry.customMetadata,
      delete_version_after: goDuration(entry.deleteVersionAfter),
      max_versions: entry.maxVersions,
      oldest_version: entry.oldestVersion,
      updated_time: timestamp(entry.updatedTime),
      versions
    }
  }

  #list (mount: KvMount, folder: string): Reply {
    const prefix = folder === '' || folder.endsWith('/') ? folder : `${folder}/`
    const keys = new Set<string>()
    for (const key of mount.keys.keys()) {
      if (!key.startsWith(prefix)) continue
      const [first = '', ...deeper] = key.slice(prefix.length).split('/')
      keys.add(deeper.length > 0 ? `${first}/` : first)
    }
    if (keys.size === 0) return errors(404)
    return { status: 200, body: envelope({ data: { keys: [...keys].sort() } }) }
  }

  #writeMetadata (
    mount: KvMount,
    key: string,
    existing: KvKey | undefined,
    body: Record<string, unknown> | null,
    patch: boolean
  ): Reply {
    const now = this.#clock.now()
    let custom: Record<string, string> | undefined
    if (body?.custom_metadata !== undefined && body.custom_metadata !== null) {
      const raw = body.custom_metadata as Record<string, unknown>
      const problems: string[] = []
      const given = Object.entries(raw).filter(([, value]) => !(patch && value === null))
      if (given.length > 64) {
        problems.push(
          `custom_metadata validation failed: payload must contain at most 64 keys, provided ${given.length}`
        )
      }
      for (const [name, value] of given.length > 64 ? [] : given) {
        const text = value === null ? '' : String(value)
        if (name.length === 0 || name.length > 128) {
          problems.push(
            `custom_metadata validation failed: length of key ${JSON.stringify(name)} is ${name.length} but must be 0 < len(key) <= 128`
          )
        }
        if (text.length === 0 || text.length > 512) {
          problems.push(
            `custom_metadata validation failed: length of value for key ${JSON.stringify(name)} is ${text.length} but must be 0 < len(value) <= 512`
          )
        }
      }
      if (problems.length > 0) return errors(400, multiError(problems))
      if (patch) {
        custom = { ...(existing?.customMetadata ?? {}) }
        for (const [name, value] of Object.entries(raw)) {
          if (value === null) delete custom[name]
          else custom[name] = String(value)
        }
      } else {
        custom = Object.fromEntries(given.map(([name, value]) => [name, String(value)]))
      }
    }
    const entry: KvKey = existing ?? emptyKey(now)
    if (typeof body?.max_versions === 'number') entry.maxVersions = body.max_versions
    if (typeof body?.cas_required === 'boolean') entry.casRequired = body.cas_required
    const after = parseSeconds(body?.delete_version_after)
    if (after !== undefined) entry.deleteVersionAfter = after
    if (custom !== undefined) entry.customMetadata = custom
    mount.keys.set(key, entry)
    return { status: 204 }
  }
}

function envelope (parts: { data?: unknown, auth?: unknown, warnings?: string[] }): Record<string, unknown> {
  return {
    request_id: randomUUID(),
    lease_id: '',
    renewable: false,
    lease_duration: 0,
    data: parts.data ?? null,
    wrap_info: null,
    warnings: parts.warnings !== undefined && parts.warnings.length > 0 ? parts.warnings : null,
    auth: parts.auth ?? null,
    mount_type: parts.auth === undefined ? 'kv' : 'token'
  }
}

/** Go's RFC 3339 with nanoseconds and trailing zeros trimmed (ptypes.TimestampString). */
function timestamp (ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d*?)0+Z$/, '.$1Z').replace(/\.Z$/, 'Z')
}

function headerValue (value: string | string[] | undefined): string | undefined {
  const first = Array.isArray(value) ? value[0] : value
  return first === undefined || first === '' ? undefined : first
}

function routeName (path: string, method: string, list: boolean): string {
  if (path.startsWith('auth/token/')) return `token:${path.slice('auth/token/'.length)}`
  const operation = path.split('/')[1] ?? ''
  if (operation === 'data') return { GET: 'kv:read', POST: 'kv:write', PUT: 'kv:write', PATCH: 'kv:patch', DELETE: 'kv:delete' }[method] ?? 'kv:unknown'
  if (operation === 'metadata') {
    if (list) return 'metadata:list'
    return { GET: 'metadata:read', POST: 'metadata:write', PUT: 'metadata:write', PATCH: 'metadata:patch', DELETE: 'metadata:delete' }[method] ?? 'metadata:unknown'
  }
  return `kv:${operation}`
}

/** A key as Vault creates it on its first write (data or metadata): no versions, the mount's settings. */
function emptyKey (now: number): KvKey {
  return {
    createdTime: now,
    updatedTime: now,
    currentVersion: 0,
    oldestVersion: 0,
    maxVersions: 0,
    casRequired: false,
    deleteVersionAfter: 0,
    customMetadata: null,
    versions: new Map()
  }
}
