/**
 * The Confluence tools over real HTTP with the SDK client: CQL search with Confluence's cursor, a page's storage format
 * as Markdown, spaces, create (Markdown in, ADF out), update with the next version, comments, Atlassian's 4xx and 409.
 */
import t from 'tap'
import { WIKI_CLOUD_ID } from '../helpers/broker-harness.js'
import { callTool, connect, restCalls, startMcpHarness, textOf } from './mcp-harness.js'

t.test('the Confluence tools', async (t) => {
  const h = await startMcpHarness(t)
  const runbook = h.fake.addPage(WIKI_CLOUD_ID, { title: 'Release runbook', body: '<h2>Steps</h2><p>Tag the <strong>release</strong>.</p><ul><li>build</li><li>ship</li></ul>' })
  h.fake.addPage(WIKI_CLOUD_ID, { title: 'Release notes', body: '<p>release 1.0</p>' })
  h.fake.addPage(WIKI_CLOUD_ID, { title: 'Unrelated', body: '<p>nothing</p>' })
  const client = await connect(t, h, 'agent')

  const first = await callTool(client, 'confluence_search', { cql: 'type = page AND text ~ "release"', limit: 1 })
  t.notOk(first.isError, textOf(first))
  const cursor = (first.structuredContent as { cursor?: string }).cursor
  t.type(cursor, 'string', 'Confluence\'s cursor, from _links.next')
  t.match(textOf(first), /- Release runbook \(page \d+, Engineering\)[\s\S]*More results: call again with cursor/)
  const second = await callTool(client, 'confluence_search', { cql: 'type = page AND text ~ "release"', limit: 1, cursor })
  t.match(second.structuredContent, { results: [{ title: 'Release notes' }] })
  t.notOk('cursor' in (second.structuredContent ?? {}), 'the last page has no cursor')

  const page = await callTool(client, 'confluence_get_page', { pageId: runbook.id })
  t.match(textOf(page), /^# Release runbook\nPage \d+ · space 131073 · version 1\n\n## Steps\n\nTag the \*\*release\*\*\.\n\n-\s+build\n-\s+ship/)
  t.match(page.structuredContent, { id: runbook.id, version: 1 })

  t.match((await callTool(client, 'confluence_list_spaces', {})).structuredContent, { spaces: [{ id: '131073', key: 'ENG' }] })

  h.fake.reset()
  const created = await callTool(client, 'confluence_create_page', { spaceId: '131073', title: 'Agent page', body: '# Hello\n\nWritten **by** an agent' })
  t.notOk(created.isError, textOf(created))
  const id = (created.structuredContent as { id: string }).id
  const updated = await callTool(client, 'confluence_update_page', { pageId: id, body: 'Second *draft*', versionMessage: 'agent edit' })
  t.match(updated.structuredContent, { id, version: 2 })
  const again = await callTool(client, 'confluence_update_page', { pageId: id, body: 'Third draft', title: 'Agent page v3' })
  t.match(again.structuredContent, { version: 3 }, 'each update reads the version and writes the next')
  t.match(textOf(await callTool(client, 'confluence_get_page', { pageId: id })), /^# Agent page v3\n.*version 3\n\nThird draft/)
  const comment = await callTool(client, 'confluence_add_comment', { pageId: id, body: 'LGTM' })
  t.match(comment.structuredContent, { pageId: id, commentId: /^\d+$/ })
  t.same(restCalls(h), [
    'POST /wiki/api/v2/pages',
    'GET /wiki/api/v2/pages/' + id, 'PUT /wiki/api/v2/pages/' + id,
    'GET /wiki/api/v2/pages/' + id, 'PUT /wiki/api/v2/pages/' + id,
    'GET /wiki/api/v2/pages/' + id,
    'POST /wiki/api/v2/footer-comments'
  ])

  // Atlassian's 4xx, with Atlassian's message, as a tool error.
  const duplicate = await callTool(client, 'confluence_create_page', { spaceId: '131073', title: 'Release notes', body: 'x' })
  t.equal(duplicate.isError, true)
  t.match(textOf(duplicate), /Atlassian answered 400: A page with this title already exists/)
  const missing = await callTool(client, 'confluence_get_page', { pageId: '999999' })
  t.match(textOf(missing), /Atlassian answered 404: Not Found/)
  t.match(missing.structuredContent, { status: 404 })
})
