/**
 * The Confluence tools: CQL search (REST v1 `/wiki/rest/api/search`, the one API that takes CQL), and pages, spaces
 * and comments through REST v2. Page bodies come back as Markdown from the storage format (XHTML: markdown.ts) and go
 * in as Markdown turned into ADF (`atlas_doc_format`, which v2 accepts). An update reads the page's version first and
 * sends the next one, as Confluence requires. Lists page with Confluence's own `cursor`.
 */
import * as z from 'zod'
import { clip, htmlToMarkdown, markdownToAdfDocument } from './markdown.js'
import {
  ADDITIVE, CURSOR, cursorOf, fieldsOf, listOf, moreLine, OVERWRITING, pathOf, READ_ONLY, textOf, type ToolSpec
} from './tool-kit.js'

const PAGE_ID = z.string().regex(/^\d{1,20}$/).describe('The page\'s numeric id')
const MAX_PAGE_CHARS = 40_000

const adfBody = (markdown: unknown): { representation: 'atlas_doc_format', value: string } =>
  ({ representation: 'atlas_doc_format', value: JSON.stringify(markdownToAdfDocument(String(markdown))) })

const search: ToolSpec = {
  name: 'confluence_search',
  product: 'confluence',
  title: 'Search Confluence (CQL)',
  description: 'Finds Confluence content with a CQL query, for example: type = page AND space = ENG AND text ~ ' +
    '"release". Returns title, id, space and an excerpt per result. Paged: pass the returned cursor for the next page.',
  input: {
    cql: z.string().min(1).max(10_000).describe('The CQL query'),
    limit: z.number().int().min(1).max(100).default(20).describe('Results per page, 1 to 100'),
    cursor: CURSOR
  },
  annotations: READ_ONLY,
  needs: [{ method: 'GET', path: '/wiki/rest/api/search' }],
  run: async (rest, args) => {
    const answer = fieldsOf(await rest.get('/wiki/rest/api/search', { cql: String(args.cql), limit: Number(args.limit), cursor: args.cursor as string | undefined }))
    const results = listOf(answer.results).map((result) => {
      const content = fieldsOf(result.content)
      return {
        id: textOf(content.id),
        type: textOf(content.type),
        title: textOf(content.title) ?? textOf(result.title),
        space: textOf(fieldsOf(result.resultGlobalContainer).title),
        excerpt: textOf(result.excerpt),
        lastModified: textOf(result.lastModified)
      }
    })
    const cursor = cursorOf(fieldsOf(answer._links).next)
    const text = results.length === 0
      ? 'Nothing matches.'
      : results.map((result) => `- ${result.title ?? '?'} (${result.type ?? 'content'} ${result.id ?? '?'}` +
        `${result.space === undefined ? '' : `, ${result.space}`})${result.excerpt ? `: ${result.excerpt.slice(0, 300)}` : ''}`).join('\n')
    return { text: text + moreLine(cursor), structured: { results, ...(cursor === undefined ? {} : { cursor }) } }
  }
}

const getPage: ToolSpec = {
  name: 'confluence_get_page',
  product: 'confluence',
  title: 'Read a Confluence page',
  description: 'Reads one Confluence page: title, space, version and its body as Markdown.',
  input: { pageId: PAGE_ID },
  annotations: READ_ONLY,
  needs: [{ method: 'GET', path: '/wiki/api/v2/pages/1' }],
  run: async (rest, args) => {
    const page = fieldsOf(await rest.get(pathOf`/wiki/api/v2/pages/${String(args.pageId)}`, { 'body-format': 'storage' }))
    const body = clip(htmlToMarkdown(textOf(fieldsOf(fieldsOf(page.body).storage).value)), MAX_PAGE_CHARS)
    const version = fieldsOf(page.version).number
    const structured = { id: textOf(page.id), title: textOf(page.title), spaceId: textOf(page.spaceId), version, body }
    const text = `# ${structured.title ?? ''}\nPage ${structured.id ?? '?'} · space ${structured.spaceId ?? '?'} · version ${String(version ?? '?')}\n\n${body}`
    return { text, structured }
  }
}

const listSpaces: ToolSpec = {
  name: 'confluence_list_spaces',
  product: 'confluence',
  title: 'List Confluence spaces',
  description: 'Lists the Confluence spaces the service account can see (id, key, name): a page is created in a ' +
    'space by its id. Paged: pass the returned cursor for the next page.',
  input: { limit: z.number().int().min(1).max(250).default(50), cursor: CURSOR },
  annotations: READ_ONLY,
  needs: [{ method: 'GET', path: '/wiki/api/v2/spaces' }],
  run: async (rest, args) => {
    const answer = fieldsOf(await rest.get('/wiki/api/v2/spaces', { limit: Number(args.limit), cursor: args.cursor as string | undefined }))
    const spaces = listOf(answer.results).map((space) => ({
      id: textOf(space.id),
      key: textOf(space.key),
      name: textOf(space.name),
      type: textOf(space.type)
    }))
    const cursor = cursorOf(fieldsOf(answer._links).next)
    const text = spaces.length === 0 ? 'No spaces.' : spaces.map((space) => `- ${space.key ?? '?'} (id ${space.id ?? '?'}): ${space.name ?? ''}`).join('\n')
    return { text: text + moreLine(cursor), structured: { spaces, ...(cursor === undefined ? {} : { cursor }) } }
  }
}

const createPage: ToolSpec = {
  name: 'confluence_create_page',
  product: 'confluence',
  title: 'Create a Confluence page',
  description: 'Creates a page in a Confluence space (its id: see confluence_list_spaces), optionally under a parent ' +
    'page. The body is Markdown. Returns the new page\'s id.',
  input: {
    spaceId: z.string().regex(/^\d{1,20}$/).describe('The space\'s numeric id'),
    title: z.string().min(1).max(255),
    body: z.string().max(500_000).describe('The page body, in Markdown'),
    parentId: PAGE_ID.optional().describe('The parent page\'s id; omit for a page at the space\'s top')
  },
  annotations: ADDITIVE,
  needs: [{ method: 'POST', path: '/wiki/api/v2/pages' }],
  run: async (rest, args) => {
    const page = fieldsOf(await rest.post('/wiki/api/v2/pages', {
      spaceId: args.spaceId,
      status: 'current',
      title: args.title,
      ...(args.parentId === undefined ? {} : { parentId: args.parentId }),
      body: adfBody(args.body)
    }))
    return { text: `Created page ${textOf(page.id) ?? '?'}: ${textOf(page.title) ?? ''}.`, structured: { id: textOf(page.id), title: textOf(page.title) } }
  }
}

const updatePage: ToolSpec = {
  name: 'confluence_update_page',
  product: 'confluence',
  title: 'Update a Confluence page',
  description: 'Replaces a Confluence page\'s body (Markdown) and optionally its title. The page\'s current version ' +
    'is read first and the next version is written, as Confluence requires.',
  input: {
    pageId: PAGE_ID,
    body: z.string().max(500_000).describe('The new body, in Markdown (replaces the old one)'),
    title: z.string().min(1).max(255).optional().describe('A new title; omit to keep it'),
    versionMessage: z.string().max(255).optional().describe('A note for the page history')
  },
  annotations: OVERWRITING,
  needs: [{ method: 'GET', path: '/wiki/api/v2/pages/1' }, { method: 'PUT', path: '/wiki/api/v2/pages/1' }],
  run: async (rest, args) => {
    const id = String(args.pageId)
    const current = fieldsOf(await rest.get(pathOf`/wiki/api/v2/pages/${id}`))
    const next = (Number(fieldsOf(current.version).number) || 0) + 1
    await rest.put(pathOf`/wiki/api/v2/pages/${id}`, {
      id,
      status: 'current',
      title: args.title ?? textOf(current.title),
      body: adfBody(args.body),
      version: { number: next, ...(args.versionMessage === undefined ? {} : { message: args.versionMessage }) }
    })
    return { text: `Updated page ${id} to version ${next}.`, structured: { id, version: next } }
  }
}

const addComment: ToolSpec = {
  name: 'confluence_add_comment',
  product: 'confluence',
  title: 'Comment on a Confluence page',
  description: 'Adds a footer comment, written in Markdown, to a Confluence page.',
  input: { pageId: PAGE_ID, body: z.string().min(1).max(100_000).describe('The comment, in Markdown') },
  annotations: ADDITIVE,
  needs: [{ method: 'POST', path: '/wiki/api/v2/footer-comments' }],
  run: async (rest, args) => {
    const comment = fieldsOf(await rest.post('/wiki/api/v2/footer-comments', { pageId: args.pageId, body: adfBody(args.body) }))
    return { text: `Commented on page ${String(args.pageId)} (comment ${textOf(comment.id) ?? '?'}).`, structured: { pageId: args.pageId, commentId: textOf(comment.id) } }
  }
}

export const CONFLUENCE_TOOLS: readonly ToolSpec[] = [search, getPage, listSpaces, createPage, updatePage, addComment]
