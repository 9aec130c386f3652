/**
 * The fake's work routes, the REST calls the broker's MCP tools make, shaped as Atlassian documents them:
 * Jira v3 issue (with `expand=renderedFields`: Jira renders ADF to HTML), comments (`expand=renderedBody`),
 * transitions, update, project search (`startAt`/`isLast`); Confluence v2 pages (GET with its version, POST, PUT
 * needing the next version number, 409 otherwise), footer comments, and v1 CQL search (`cursor` in `_links.next`).
 * Enough ADF is rendered to HTML (paragraphs, headings, lists, code, marks) for the Markdown the tools return.
 */
import { json, type FakeResponse, type JsonValue, type Product } from './fake-atlassian-http.js'
import {
  BAD_PAYLOAD, DEFAULT_SPACE, ISSUE_NOT_FOUND, parseJsonObject, renderIssue, requestedFields,
  type BuiltinRoute, type GatewayRequest, type SiteContent, type StoredIssue
} from './fake-atlassian-content.js'

interface StoredComment { id: string, body: JsonValue, created: string, author: string }

const comments = new WeakMap<SiteContent, Map<string, StoredComment[]>>()
const pageVersions = new WeakMap<SiteContent, Map<string, number>>()
let nextCommentId = 10_100

export const TRANSITIONS = [
  { id: '11', name: 'Back to To Do', to: 'To Do' },
  { id: '21', name: 'Start progress', to: 'In Progress' },
  { id: '31', name: 'Done', to: 'Done' }
] as const

const escapeHtml = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** ADF to the HTML Jira's renderer gives (a subset). */
export function adfToHtml (node: unknown): string {
  if (typeof node !== 'object' || node === null) return ''
  const { type, content, text, marks, attrs } = node as {
    type?: string
    content?: unknown[]
    text?: string
    marks?: Array<{ type: string }>
    attrs?: { level?: number }
  }
  const inner = (content ?? []).map(adfToHtml).join('')
  switch (type) {
    case 'doc': return inner
    case 'paragraph': return `<p>${inner}</p>`
    case 'heading': return `<h${attrs?.level ?? 1}>${inner}</h${attrs?.level ?? 1}>`
    case 'bulletList': return `<ul>${inner}</ul>`
    case 'orderedList': return `<ol>${inner}</ol>`
    case 'listItem': return `<li>${inner}</li>`
    case 'codeBlock': return `<pre><code>${inner}</code></pre>`
    case 'hardBreak': return '<br/>'
    case 'text': {
      let html = escapeHtml(text ?? '')
      for (const mark of marks ?? []) {
        if (mark.type === 'strong') html = `<b>${html}</b>`
        if (mark.type === 'em') html = `<em>${html}</em>`
        if (mark.type === 'code') html = `<tt>${html}</tt>`
      }
      return html
    }
    default: return inner
  }
}

const isAdf = (value: unknown): boolean => typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'doc'

function commentsOf (site: SiteContent, issue: StoredIssue): StoredComment[] {
  let bySite = comments.get(site)
  if (bySite === undefined) comments.set(site, bySite = new Map())
  let list = bySite.get(issue.id)
  if (list === undefined) bySite.set(issue.id, list = [])
  return list
}

function versionOf (site: SiteContent, id: string): number {
  return pageVersions.get(site)?.get(id) ?? 1
}

function setVersion (site: SiteContent, id: string, version: number): void {
  let versions = pageVersions.get(site)
  if (versions === undefined) pageVersions.set(site, versions = new Map())
  versions.set(id, version)
}

function renderComment (request: GatewayRequest, comment: StoredComment, rendered: boolean): JsonValue {
  return {
    id: comment.id,
    author: { accountId: request.identity.account.accountId, displayName: comment.author },
    body: comment.body,
    ...(rendered ? { renderedBody: adfToHtml(comment.body) } : {}),
    created: comment.created,
    updated: comment.created
  }
}

function issueRoute (method: string, suffix: string, handle: (request: GatewayRequest, site: SiteContent, issue: StoredIssue) => FakeResponse, scopes = [['read:jira-work']]): BuiltinRoute {
  return {
    product: 'jira',
    methods: [method],
    pattern: new RegExp(`^/rest/api/3/issue/([^/]+)${suffix}$`),
    scopes,
    handle: (request, site, match) => {
      const issue = site.findIssue(decodeURIComponent(match[1] ?? ''))
      return issue === undefined ? ISSUE_NOT_FOUND : handle(request, site, issue)
    }
  }
}

function page (request: GatewayRequest, site: SiteContent, id: string, bodyFormat: string | null): FakeResponse {
  const stored = site.pages.get(id)
  if (stored === undefined) return json(404, { errors: [{ status: 404, code: 'NOT_FOUND', title: 'Not Found', detail: null }] })
  return json(200, {
    id: stored.id,
    status: 'current',
    title: stored.title,
    spaceId: stored.spaceId,
    authorId: stored.authorId,
    createdAt: stored.createdAt,
    version: { number: versionOf(site, id), createdAt: stored.createdAt, message: '', minorEdit: false, authorId: stored.authorId },
    body: bodyFormat === 'storage' ? { storage: { representation: 'storage', value: stored.body } } : {},
    _links: { webui: `/spaces/${DEFAULT_SPACE.key}/pages/${stored.id}`, base: `${request.siteBaseUrl}/wiki` }
  })
}

/** A v2 body: `storage` kept as it is, `atlas_doc_format` (ADF as a JSON string) stored as its HTML. */
function storageOf (body: unknown): string | undefined {
  const { representation, value } = (typeof body === 'object' && body !== null ? body : {}) as { representation?: unknown, value?: unknown }
  if (typeof value !== 'string') return undefined
  if (representation === 'storage') return value
  if (representation !== 'atlas_doc_format') return undefined
  try { return adfToHtml(JSON.parse(value)) } catch { return undefined }
}

const INVALID = (detail: string): FakeResponse => json(400, { errors: [{ status: 400, code: 'INVALID_REQUEST_PARAMETER', title: detail, detail: null }] })

const WORK_ROUTES: readonly BuiltinRoute[] = [
  issueRoute('GET', '', (request, _site, issue) => {
    const rendered = request.query.get('expand')?.split(',').includes('renderedFields') === true
    const body = renderIssue(issue, request, '3', requestedFields(request.query.getAll('fields'))) as Record<
      string,
      JsonValue
    >
    return json(
      200,
      rendered ? { ...body, renderedFields: { description: adfToHtml(issue.fields.description) } } : body
    )
  }),
  issueRoute(
    'PUT',
    '',
    (request, _site, issue) => {
      const fields = parseJsonObject(request.body)?.fields
      if (typeof fields !== 'object' || fields === null) return BAD_PAYLOAD
      const update = fields as Record<string, JsonValue>
      if (update.description !== undefined && !isAdf(update.description)) {
        return json(400, {
          errorMessages: [],
          errors: { description: 'Operation value must be an Atlassian Document (see the Atlassian Document Format)' }
        })
      }
      Object.assign(issue.fields, update)
      return { status: 204 }
    },
    [['write:jira-work']]
  ),
  issueRoute('GET', '/comment', (request, site, issue) => {
    const all = [...commentsOf(site, issue)]
    if (request.query.get('orderBy') === '-created') all.reverse()
    const maxResults = Number(request.query.get('maxResults') ?? 50)
    const rendered = request.query.get('expand')?.split(',').includes('renderedBody') === true
    return json(200, {
      startAt: 0,
      maxResults,
      total: all.length,
      comments: all.slice(0, maxResults).map((comment) => renderComment(request, comment, rendered))
    })
  }),
  issueRoute(
    'POST',
    '/comment',
    (request, site, issue) => {
      const body = parseJsonObject(request.body)?.body
      if (!isAdf(body)) return json(400, { errorMessages: [], errors: { comment: 'Comment body is not valid!' } })
      const comment = {
        id: String(++nextCommentId),
        body: body as JsonValue,
        created: new Date().toISOString(),
        author: request.identity.account.displayName
      }
      commentsOf(site, issue).push(comment)
      return json(201, renderComment(request, comment, false))
    },
    [['write:jira-work']]
  ),
  issueRoute('GET', '/transitions', () =>
    json(200, {
      expand: 'transitions',
      transitions: TRANSITIONS.map((transition) => ({
        id: transition.id,
        name: transition.name,
        to: { id: transition.id, name: transition.to },
        hasScreen: false,
        isGlobal: true
      }))
    })
  ),
  issueRoute(
    'POST',
    '/transitions',
    (request, _site, issue) => {
      const id = (parseJsonObject(request.body)?.transition as { id?: unknown } | undefined)?.id
      const transition = TRANSITIONS.find((candidate) => candidate.id === id)
      if (transition === undefined) {
        return json(400, {
          errorMessages: [`Transition id '${String(id)}' is not valid for this issue.`],
          errors: {}
        })
      }
      issue.fields.status = { id: transition.id, name: transition.to }
      return { status: 204 }
    },
    [['write:jira-work']]
  ),
  {
    product: 'jira',
    methods: ['GET'],
    pattern: /^\/rest\/api\/3\/project\/search$/,
    scopes: [['read:jira-work']],
    handle: (request, site) => {
      const query = (request.query.get('query') ?? '').toUpperCase()
      const keys = [...new Set([...site.issues.values()].map((issue) => issue.key.split('-')[0] ?? ''))]
        .sort()
        .filter((key) => key.includes(query))
      const startAt = Number(request.query.get('startAt') ?? 0)
      const maxResults = Number(request.query.get('maxResults') ?? 50)
      const values = keys
        .slice(startAt, startAt + maxResults)
        .map((key, index) => ({
          id: String(10_000 + startAt + index),
          key,
          name: `${key} project`,
          projectTypeKey: 'software'
        }))
      return json(200, {
        startAt,
        maxResults,
        total: keys.length,
        isLast: startAt + maxResults >= keys.length,
        values
      })
    }
  },
  {
    product: 'confluence',
    methods: ['GET'],
    pattern: /^\/wiki\/api\/v2\/pages\/(\d+)$/,
    scopes: [['read:page:confluence']],
    handle: (r, s, m) => page(r, s, m[1] ?? '', r.query.get('body-format'))
  },
  {
    product: 'confluence',
    methods: ['POST'],
    pattern: /^\/wiki\/api\/v2\/pages$/,
    scopes: [['write:page:confluence']],
    handle: (request, site) => {
      const payload = parseJsonObject(request.body) ?? {}
      const body = storageOf(payload.body)
      if (typeof payload.title !== 'string' || typeof payload.spaceId !== 'string' || body === undefined) { return INVALID('spaceId, title and a body (storage or atlas_doc_format) are required') }
      if (
        [...site.pages.values()].some(
          (stored) => stored.spaceId === payload.spaceId && stored.title === payload.title
        )
      ) {
        return INVALID(
          'A page with this title already exists: A page already exists with the same TITLE in this space'
        )
      }
      const stored = site.addPage(
        { title: payload.title, spaceId: payload.spaceId, body },
        new Date(),
        request.identity.account.accountId
      )
      return page(request, site, stored.id, null)
    }
  },
  {
    product: 'confluence',
    methods: ['PUT'],
    pattern: /^\/wiki\/api\/v2\/pages\/(\d+)$/,
    scopes: [['write:page:confluence']],
    handle: (request, site, match) => {
      const stored = site.pages.get(match[1] ?? '')
      if (stored === undefined) { return json(404, { errors: [{ status: 404, code: 'NOT_FOUND', title: 'Not Found', detail: null }] }) }
      const payload = parseJsonObject(request.body) ?? {}
      const body = storageOf(payload.body)
      const wanted = (payload.version as { number?: unknown } | undefined)?.number
      const current = versionOf(site, stored.id)
      if (wanted !== current + 1) {
        return json(409, {
          errors: [
            {
              status: 409,
              code: 'CONFLICT',
              title: `Version must be incremented on update. Current Version: [${current}]. Provided version: [${String(wanted)}]`,
              detail: null
            }
          ]
        })
      }
      if (body === undefined || typeof payload.title !== 'string') return INVALID('title and a body are required')
      stored.body = body
      stored.title = payload.title
      setVersion(site, stored.id, current + 1)
      return page(request, site, stored.id, null)
    }
  },
  {
    product: 'confluence',
    methods: ['POST'],
    pattern: /^\/wiki\/api\/v2\/footer-comments$/,
    scopes: [['write:comment:confluence']],
    handle: (request, site) => {
      const payload = parseJsonObject(request.body) ?? {}
      if (typeof payload.pageId !== 'string' || !site.pages.has(payload.pageId)) { return json(404, { errors: [{ status: 404, code: 'NOT_FOUND', title: 'Page not found', detail: null }] }) }
      if (storageOf(payload.body) === undefined) return INVALID('body is required')
      return json(200, {
        id: String(++nextCommentId),
        status: 'current',
        pageId: payload.pageId,
        version: { number: 1 }
      })
    }
  },
  {
    product: 'confluence',
    methods: ['GET'],
    pattern: /^\/wiki\/rest\/api\/search$/,
    scopes: [['search:confluence']],
    handle: (request, site) => {
      const cql = request.query.get('cql')
      if (cql === null || cql.trim() === '') { return json(400, { statusCode: 400, message: 'CQL query parameter is required' }) }
      const word = /(?:text|title)\s*~\s*"([^"]+)"/.exec(cql)?.[1]?.toLowerCase()
      const found = [...site.pages.values()].filter(
        (stored) => word === undefined || `${stored.title} ${stored.body}`.toLowerCase().includes(word)
      )
      const limit = Number(request.query.get('limit') ?? 25)
      const start = Number(Buffer.from(request.query.get('cursor') ?? '', 'base64url').toString() || 0)
      const results = found.slice(start, start + limit).map((stored) => ({
        content: { id: stored.id, type: 'page', status: 'current', title: stored.title },
        title: stored.title,
        excerpt: stored.body
          .replace(/<[^>]+>/g, ' ')
          .trim()
          .slice(0, 100),
        url: `/spaces/${DEFAULT_SPACE.key}/pages/${stored.id}`,
        resultGlobalContainer: { title: DEFAULT_SPACE.name, displayUrl: `/spaces/${DEFAULT_SPACE.key}` },
        lastModified: stored.createdAt
      }))
      const next: Record<string, string> =
        start + limit < found.length
          ? {
              next: `/rest/api/search?cql=${encodeURIComponent(cql)}&limit=${limit}&cursor=${Buffer.from(String(start + limit)).toString('base64url')}`
            }
          : {}
      return json(200, {
        results,
        start,
        limit,
        size: results.length,
        totalSize: found.length,
        _links: { base: `${request.siteBaseUrl}/wiki`, context: '/wiki', ...next }
      })
    }
  }
]

export function findWorkRoute (
  product: Product,
  method: string,
  apiPath: string
): { route: BuiltinRoute, match: RegExpExecArray } | undefined {
  for (const route of WORK_ROUTES) {
    const match = route.product === product && route.methods.includes(method) ? route.pattern.exec(apiPath) : null
    if (match !== null) return { route, match }
  }
  return undefined
}
