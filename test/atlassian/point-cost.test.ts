/**
 * The points estimate (src/atlassian/point-cost.ts): which answers are counted, and the streaming count of a list's
 * objects whatever way the bytes are cut into chunks.
 */
import t from 'tap'
import { BASE_POINTS, listField, ObjectCounter, pointsOf } from '../../src/atlassian/point-cost.js'

const JSON_TYPE = 'application/json;charset=UTF-8'

/** Counts `json` fed in chunks of `size` bytes (1: every possible cut between two bytes is tried). */
function count (json: string, field: string, size: number): number {
  const counter = new ObjectCounter(field)
  const bytes = Buffer.from(json)
  for (let at = 0; at < bytes.length; at += size) counter.write(bytes.subarray(at, at + size))
  return counter.objects
}

t.test('which answers are counted, and by which field (each endpoint shape)', async (t) => {
  t.equal(listField('jira', 'GET', '/rest/api/3/search/jql', 200, JSON_TYPE), 'issues', 'Jira search: issues')
  t.equal(listField('jira', 'POST', '/rest/api/3/search/jql', 200, JSON_TYPE), 'issues', 'a search by POST is a read')
  t.equal(listField('jira', 'GET', '/rest/api/2/search', 200, JSON_TYPE), 'issues')
  t.equal(listField('jira', 'GET', '/rest/agile/1.0/board/7/issue', 200, JSON_TYPE), 'issues')
  t.equal(listField('jira', 'GET', '/rest/api/3/issue/OPS-1/comment', 200, JSON_TYPE), 'comments')
  t.equal(listField('jira', 'GET', '/rest/api/3/issue/OPS-1/worklog', 200, JSON_TYPE), 'worklogs')
  t.equal(listField('jira', 'GET', '/rest/api/3/project/search', 200, JSON_TYPE), 'values', 'paged lists: values')
  t.equal(listField('jira', 'GET', '/rest/api/3/issue/OPS-1/changelog', 200, JSON_TYPE), 'values')
  t.equal(listField('confluence', 'GET', '/wiki/api/v2/pages', 200, JSON_TYPE), 'results', 'Confluence lists: results')
  t.equal(listField('confluence', 'GET', '/wiki/api/v2/pages/123/footer-comments', 200, JSON_TYPE), 'results')
  t.equal(listField('confluence', 'GET', '/wiki/rest/api/search', 200, JSON_TYPE), 'results', 'v1 CQL search')

  t.equal(listField('jira', 'GET', '/rest/api/3/issue/OPS-1', 200, JSON_TYPE), undefined, 'one object: base only')
  t.equal(listField('confluence', 'GET', '/wiki/api/v2/pages/123', 200, JSON_TYPE), undefined, 'a page by id: base')
  t.equal(listField('jira', 'POST', '/rest/api/3/issue', 201, JSON_TYPE), undefined, 'writes: base only')
  t.equal(listField('jira', 'PUT', '/rest/api/3/project/search', 200, JSON_TYPE), undefined)
  t.equal(listField('confluence', 'POST', '/wiki/api/v2/pages', 200, JSON_TYPE), undefined)
  t.equal(listField('jira', 'GET', '/rest/api/3/search/jql', 400, JSON_TYPE), undefined, 'errors: base only')
  t.equal(listField('jira', 'GET', '/rest/api/3/search/jql', 429, JSON_TYPE), undefined)
  t.equal(listField('jira', 'GET', '/rest/api/3/search/jql', 200, 'text/html'), undefined, 'not JSON: base only')
  t.equal(listField('jira', 'GET', '/rest/api/3/search/jql', 200, undefined), undefined, 'no content type: base only')
  t.equal(pointsOf(undefined), BASE_POINTS, 'an answer not counted costs the base')
})

t.test('the count of a Jira search, cut at every byte', async (t) => {
  const search = JSON.stringify({
    startAt: 0,
    maxResults: 50,
    total: 3,
    // strings holding what looks like structure, escaped quotes and backslashes, nested arrays and objects
    issues: [{ key: 'OPS-1', fields: { summary: 'a ] } [ { , " \\' } }, { key: 'OPS-2', fields: { labels: [1, [2, 3]] } }, { key: 'OPS-3' }],
    names: { issues: ['not', 'these'] }
  })
  for (const size of [1, 2, 3, 7, 64, search.length]) t.equal(count(search, 'issues', size), 3, `chunks of ${size}`)
  const counter = new ObjectCounter('issues')
  counter.write(Buffer.from(search))
  t.equal(pointsOf(counter), 4, 'base + one per issue')
  t.equal(counter.done, true, 'the scan stops at the array\'s end')
})

t.test('lists of every shape; what is not the field is not counted', async (t) => {
  const pretty = JSON.stringify({ results: ['a\\', 'b"', 3, null, true, { x: [] }], _links: { next: '/x' } }, null, 2)
  for (const size of [1, 5, 1000]) t.equal(count(pretty, 'results', size), 6, `pretty-printed, chunks of ${size}`)
  t.equal(count('{"values":[],"isLast":true}', 'values', 1), 0, 'an empty list')
  t.equal(count('[{"accountId":"a"},{"accountId":"b"}]', 'values', 1), 2, 'a root array counts its elements')
  t.equal(count('[]', 'values', 1), 0)
  t.equal(count('{"nested":{"issues":[1,2]},"issues":[9]}', 'issues', 1), 1, 'only the root object\'s field')
  t.equal(count('{"issuesToo":[1,2],"xissues":[1],"issues":[1,2]}', 'issues', 2), 2, 'the exact key only')
  t.equal(count('{"issues":"[1,2]","values":[1]}', 'issues', 1), 0, 'a string value is not a list')
  t.equal(count(`{"${'k'.repeat(100)}":[1,2],"issues":[7]}`, 'issues', 3), 1, 'a long key is skipped, not kept')
  t.equal(count('{"issues":[1,2', 'issues', 1), 2, 'a cut answer counts what came')
  t.equal(count('{"issues":{"a":[1,2]}}', 'issues', 1), 0, 'an object value is not a list')
  t.doesNotThrow(() => count('}}]]{"issues":[,,]', 'issues', 1), 'garbage gives a count, never an exception')
  const plain = new ObjectCounter('results')
  plain.write(new Uint8Array(Buffer.from('{"results":["x\\"y",1]}')))
  t.equal(plain.objects, 2, 'a plain Uint8Array chunk is read as a Buffer would be')
})

t.test('long strings (found by memchr) with escaped quotes and backslashes, cut anywhere', async (t) => {
  const tricky = (index: number): string => `${'x'.repeat(index % 40)}\\"${'y'.repeat(17)}\\\\"]}[{,${'\\'.repeat(index % 5)}"${'z'.repeat(index)}`
  const issues = Array.from({ length: 30 }, (_unused, index) => ({ text: tricky(index), list: [tricky(index)] }))
  const body = JSON.stringify({ issues, total: 30 })
  let wrong = 0
  for (let size = 1; size <= 64; size++) if (count(body, 'issues', size) !== 30) wrong++
  t.equal(wrong, 0, 'every chunk size from 1 to 64 counts 30')
  t.equal(count(body, 'issues', body.length), 30)
})
