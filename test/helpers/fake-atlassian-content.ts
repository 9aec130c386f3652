/**
 * What the fake gateway serves: who the caller is, what each site holds, and the built-in Jira and Confluence routes.
 * Response bodies are shaped to pass the runtime schemas of jira.js v6 and confluence.js v3 (both validate responses).
 */
import { createHash } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { json, type FakeResponse, type JsonValue, type Product } from './fake-atlassian-http.js'

/** The user behind a credential: service accounts are `app` users with a `…@serviceaccount.atlassian.com` email. */
export interface ServiceAccount {
  accountId: string
  email: string
  displayName: string
}

export interface AccountOptions {
  email?: string
  displayName?: string
  accountId?: string
  /** Scopes fixed on the credential; omitted means unrestricted (no scope check applies). */
  scopes?: readonly string[]
}

/** Defaults derive from `seed`, so accountIds and emails are stable from run to run. */
export function createServiceAccount (seed: string, options: AccountOptions): ServiceAccount {
  const hex = createHash('sha256').update(seed).digest('hex')
  const slug = seed.toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(0, 32)
  return {
    accountId: options.accountId ?? `712020:${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`,
    email: options.email ?? `${slug}@serviceaccount.atlassian.com`,
    displayName: options.displayName ?? slug
  }
}

/** `scopes: undefined` means the credential is not scope-restricted (every scope check passes). */
export type Identity =
  | { kind: 'oauth-client', clientId: string, accessToken: string, scopes: readonly string[] | undefined, account: ServiceAccount }
  | { kind: 'api-token', apiToken: string, scopes: readonly string[] | undefined, account: ServiceAccount }

/** An authenticated gateway request, as a route handler sees it. */
export interface GatewayRequest {
  method: string
  product: Product
  cloudId: string
  /** The path after `/ex/{product}/{cloudId}`, raw. */
  apiPath: string
  query: URLSearchParams
  headers: IncomingHttpHeaders
  /** The body, or `undefined` when it was larger than `maxBufferedBodyBytes` (it was still hashed and counted). */
  body: Buffer | undefined
  identity: Identity
  /** `http://127.0.0.1:PORT/ex/{product}/{cloudId}`: what `self` links start with. */
  siteBaseUrl: string
}

/**
 * Alternative scope sets; a credential passes when it holds every scope of at least one set. Classic and granular
 * scopes are separate sets because "neither implies the other", and granular lists are enforced all-or-nothing.
 */
export type ScopeRequirement = readonly (readonly string[])[]

export function hasScopes (held: readonly string[] | undefined, required: ScopeRequirement | undefined): boolean {
  if (held === undefined || required === undefined || required.length === 0) return true
  return required.some((set) => set.every((scope) => held.includes(scope)))
}

export interface IssueInput {
  projectKey: string
  summary: string
  issueType?: string
  /** Any further fields, stored and returned as given. */
  fields?: Readonly<Record<string, JsonValue>>
}

export interface StoredIssue {
  id: string
  key: string
  fields: Record<string, JsonValue>
}

export interface PageInput {
  id?: string
  title: string
  spaceId?: string
  /** Storage-format body. */
  body?: string
}

export interface StoredPage {
  id: string
  title: string
  spaceId: string
  body: string
  createdAt: string
  authorId: string
}

/** Every Confluence site of the fake has this one space. */
export const DEFAULT_SPACE = { id: '131073', key: 'ENG', name: 'Engineering' } as const

/** Issues and pages of one cloudId; Jira and Confluence on the same site share it, as they share a cloudId. */
export class SiteContent {
  readonly issues = new Map<string, StoredIssue>()
  readonly pages = new Map<string, StoredPage>()
  #nextIssueId = 10_000
  #nextPageId = 65_537
  readonly #nextNumber = new Map<string, number>()

  addIssue (input: IssueInput, now: Date): StoredIssue {
    const id = String(++this.#nextIssueId)
    const projectKey = input.projectKey.toUpperCase()
    const number = (this.#nextNumber.get(projectKey) ?? 0) + 1
    this.#nextNumber.set(projectKey, number)
    const created = now.toISOString().replace('Z', '+0000')
    const issue: StoredIssue = {
      id,
      key: `${projectKey}-${number}`,
      fields: {
        summary: input.summary,
        issuetype: { id: '10001', name: input.issueType ?? 'Task', subtask: false },
        project: { id: '10000', key: projectKey, name: projectKey, projectTypeKey: 'software' },
        status: { id: '10000', name: 'To Do', statusCategory: { id: 2, key: 'new', name: 'To Do', colorName: 'blue-gray' } },
        labels: [],
        description: null,
        created,
        updated: created,
        ...input.fields
      }
    }
    this.issues.set(id, issue)
    return issue
  }

  /** Jira finds issues by id or by key, the key case-insensitively. */
  findIssue (idOrKey: string): StoredIssue | undefined {
    const upper = idOrKey.toUpperCase()
    return this.issues.get(idOrKey) ?? [...this.issues.values()].find((issue) => issue.key === upper)
  }

  addPage (input: PageInput, now: Date, authorId: string): StoredPage {
    const page: StoredPage = {
      id: input.id ?? String(++this.#nextPageId),
      title: input.title,
      spaceId: input.spaceId ?? DEFAULT_SPACE.id,
      body: input.body ?? '<p></p>',
      createdAt: now.toISOString(),
      authorId
    }
    this.pages.set(page.id, page)
    return page
  }
}

export interface BuiltinRoute {
  product: Product
  methods: readonly string[]
  pattern: RegExp
  scopes: ScopeRequirement
  handle: (request: GatewayRequest, site: SiteContent, match: RegExpExecArray) => FakeResponse
}

const AVATAR = 'https://avatar-management--avatars.us-west-2.prod.public.atl-paas.net/default-avatar.png'
export const ISSUE_NOT_FOUND = json(404, { errorMessages: ['Issue does not exist or you do not have permission to see it.'], errors: {} })
export const BAD_PAYLOAD = json(400, { errorMessages: ['Invalid request payload. Refer to the REST API documentation and try again.'], errors: {} })

export function parseJsonObject (body: Buffer | undefined): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body?.toString('utf8') ?? '')
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

function record (value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? value as Record<string, unknown> : {}
}

/** `fields` selection: `undefined` returns every field; `*all` and `*navigable` too; otherwise the named ones. */
export function renderIssue (
  issue: StoredIssue,
  request: GatewayRequest,
  version: string,
  fields: string[] | undefined
): JsonValue {
  const all = fields === undefined || fields.includes('*all') || fields.includes('*navigable')
  const selected = all
    ? issue.fields
    : Object.fromEntries(Object.entries(issue.fields).filter(([name]) => fields.includes(name)))
  const self = `${request.siteBaseUrl}/rest/api/${version}/issue/${issue.id}`
  return {
    expand: 'renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations',
    id: issue.id,
    self,
    key: issue.key,
    fields: selected
  }
}

export function requestedFields (values: unknown): string[] | undefined {
  const list = Array.isArray(values) ? values.map(String) : typeof values === 'string' ? [values] : []
  const fields = list.flatMap((value) => value.split(',')).map((field) => field.trim()).filter(Boolean)
  return fields.length > 0 ? fields : undefined
}

/** Enough JQL for tests: `project = KEY` and `key = KEY-1`; anything else matches every issue. */
function search (request: GatewayRequest, site: SiteContent, params: Record<string, unknown>): FakeResponse {
  const jql = typeof params.jql === 'string' ? params.jql : ''
  const project = /\bproject\s*=\s*"?(\w+)"?/i.exec(jql)?.[1]?.toUpperCase()
  const key = /\b(?:key|issuekey)\s*=\s*"?(\w+-\d+)"?/i.exec(jql)?.[1]?.toUpperCase()
  const found = [...site.issues.values()].reverse()
    .filter((issue) => (project === undefined || issue.key.startsWith(`${project}-`)) && (key === undefined || issue.key === key))
  const start = Number(params.nextPageToken ?? 0) || 0
  const maxResults = Math.min(Number(params.maxResults ?? 50) || 50, 5000)
  const page = found.slice(start, start + maxResults)
  const fields = requestedFields(params.fields)
  // The enhanced search returns only issue ids unless fields are requested.
  const issues = page.map((issue) => fields === undefined ? { id: issue.id } : renderIssue(issue, request, '3', fields))
  const isLast = start + maxResults >= found.length
  return json(200, isLast ? { issues, isLast } : { issues, isLast, nextPageToken: String(start + maxResults) })
}

function createIssue (request: GatewayRequest, site: SiteContent, version: string): FakeResponse {
  const payload = parseJsonObject(request.body)
  if (payload === undefined) return BAD_PAYLOAD
  const fields = record(payload.fields)
  const project = record(fields.project)
  const projectKey = typeof project.key === 'string' ? project.key : typeof project.id === 'string' ? `P${project.id}` : undefined
  const errors: Record<string, string> = {}
  if (projectKey === undefined) errors.project = 'Specify a valid project ID or key'
  if (typeof fields.summary !== 'string' || fields.summary === '') errors.summary = 'You must specify a summary of the issue.'
  if (fields.issuetype === undefined) errors.issuetype = 'Specify an issue type'
  if (projectKey === undefined || Object.keys(errors).length > 0) return json(400, { errorMessages: [], errors })
  const { project: _project, summary: _summary, issuetype, ...rest } = fields
  const issue = site.addIssue({
    projectKey,
    summary: String(fields.summary),
    issueType: typeof record(issuetype).name === 'string' ? String(record(issuetype).name) : undefined,
    fields: JSON.parse(JSON.stringify(rest)) as Record<string, JsonValue>
  }, new Date())
  return json(201, { id: issue.id, key: issue.key, self: `${request.siteBaseUrl}/rest/api/${version}/issue/${issue.id}` })
}

function jiraUser (request: GatewayRequest, version: string): FakeResponse {
  const { account } = request.identity
  return json(200, {
    self: `${request.siteBaseUrl}/rest/api/${version}/user?accountId=${account.accountId}`,
    accountId: account.accountId,
    accountType: 'app',
    appType: 'service',
    emailAddress: account.email,
    avatarUrls: { '48x48': AVATAR, '24x24': AVATAR, '16x16': AVATAR, '32x32': AVATAR },
    displayName: account.displayName,
    active: true,
    timeZone: 'Etc/UTC',
    locale: 'en_US'
  })
}

function confluenceUser (request: GatewayRequest): FakeResponse {
  const { account } = request.identity
  return json(200, {
    type: 'known',
    accountId: account.accountId,
    accountType: 'app',
    email: account.email,
    publicName: account.displayName,
    displayName: account.displayName,
    profilePicture: { path: '/wiki/aa-avatar/default.png', width: 48, height: 48, isDefault: true },
    isExternalCollaborator: false,
    isGuest: false,
    _links: { self: `${request.siteBaseUrl}/wiki/rest/api/user?accountId=${account.accountId}`, base: `${request.siteBaseUrl}/wiki`, context: '/wiki' }
  })
}

function confluencePage (request: GatewayRequest, site: SiteContent, id: string): FakeResponse {
  const page = site.pages.get(id)
  if (page === undefined) return json(404, { errors: [{ status: 404, code: 'NOT_FOUND', title: 'Not Found', detail: null }] })
  const version = { createdAt: page.createdAt, message: '', number: 1, minorEdit: false, authorId: page.authorId }
  const bodyFormat = request.query.get('body-format')
  return json(200, {
    id: page.id,
    status: 'current',
    title: page.title,
    spaceId: page.spaceId,
    parentId: null,
    authorId: page.authorId,
    ownerId: page.authorId,
    createdAt: page.createdAt,
    version,
    body: bodyFormat === 'storage' ? { storage: { representation: 'storage', value: page.body } } : {},
    _links: { webui: `/spaces/${DEFAULT_SPACE.key}/pages/${page.id}`, tinyui: `/x/${page.id}`, base: `${request.siteBaseUrl}/wiki` }
  })
}

function confluenceSpaces (request: GatewayRequest): FakeResponse {
  const space = {
    id: DEFAULT_SPACE.id,
    key: DEFAULT_SPACE.key,
    name: DEFAULT_SPACE.name,
    type: 'global',
    status: 'current',
    authorId: '557058:00000000-0000-0000-0000-000000000000',
    createdAt: '2024-01-01T00:00:00.000Z',
    homepageId: '65537',
    description: null,
    icon: null,
    _links: { webui: `/spaces/${DEFAULT_SPACE.key}` }
  }
  return json(200, { results: [space], _links: { base: `${request.siteBaseUrl}/wiki` } })
}

const READ_JIRA_USER: ScopeRequirement = [['read:jira-user'], ['read:application-role:jira', 'read:group:jira', 'read:user:jira', 'read:avatar:jira']]

/** Required scopes: classic ones from the Jira scope docs; Confluence v2 routes accept granular scopes only. */
export const BUILTIN_ROUTES: readonly BuiltinRoute[] = [
  { product: 'jira', methods: ['GET'], pattern: /^\/rest\/api\/(2|3)\/myself$/, scopes: READ_JIRA_USER, handle: (r, _s, m) => jiraUser(r, m[1] ?? '3') },
  {
    product: 'jira',
    methods: ['GET'],
    pattern: /^\/rest\/api\/(2|3)\/issue\/([^/]+)$/,
    scopes: [['read:jira-work']],
    handle: (request, site, match) => {
      const issue = site.findIssue(decodeURIComponent(match[2] ?? ''))
      return issue ? json(200, renderIssue(issue, request, match[1] ?? '3', requestedFields(request.query.getAll('fields')))) : ISSUE_NOT_FOUND
    }
  },
  { product: 'jira', methods: ['POST'], pattern: /^\/rest\/api\/(2|3)\/issue$/, scopes: [['write:jira-work']], handle: (r, s, m) => createIssue(r, s, m[1] ?? '3') },
  {
    product: 'jira',
    methods: ['GET', 'POST'],
    pattern: /^\/rest\/api\/3\/search\/jql$/,
    scopes: [['read:jira-work']],
    handle: (request, site) => {
      if (request.method === 'GET') return search(request, site, { ...Object.fromEntries(request.query), fields: request.query.getAll('fields') })
      const body = parseJsonObject(request.body)
      return body ? search(request, site, body) : BAD_PAYLOAD
    }
  },
  { product: 'confluence', methods: ['GET'], pattern: /^\/wiki\/rest\/api\/user\/current$/, scopes: [['read:confluence-user']], handle: (r) => confluenceUser(r) },
  { product: 'confluence', methods: ['GET'], pattern: /^\/wiki\/api\/v2\/pages\/(\d+)$/, scopes: [['read:page:confluence']], handle: (r, s, m) => confluencePage(r, s, m[1] ?? '') },
  { product: 'confluence', methods: ['GET'], pattern: /^\/wiki\/api\/v2\/spaces$/, scopes: [['read:space:confluence']], handle: (r) => confluenceSpaces(r) }
]

export function findBuiltinRoute (
  product: Product,
  method: string,
  apiPath: string
): { route: BuiltinRoute, match: RegExpExecArray } | undefined {
  for (const route of BUILTIN_ROUTES) {
    const match = route.product === product && route.methods.includes(method) ? route.pattern.exec(apiPath) : null
    if (match !== null) return { route, match }
  }
  return undefined
}
