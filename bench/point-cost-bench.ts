/**
 * The points scanner's cost (docs/points.md): a Jira search answer of 50 issues with full fields, fed in 16 KB chunks
 * as undici delivers them, counted again and again; prints MB/s and the CPU per answer.
 * Run: node --import tsx bench/point-cost-bench.ts
 */
import { ObjectCounter } from '../src/atlassian/point-cost.js'

const issue = (index: number): unknown => ({
  id: String(10_000 + index),
  key: `OPS-${index}`,
  self: `https://api.atlassian.com/ex/jira/c/rest/api/3/issue/${10_000 + index}`,
  fields: {
    summary: `Summary "${index}" with [brackets] and {braces}`,
    description: { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text: 'x'.repeat(1_500) }] }] },
    labels: ['a', 'b', 'c'],
    customfield_10010: Array.from({ length: 20 }, (_unused, field) => ({ id: field, value: `option ${field}` })),
    status: { name: 'In Progress', statusCategory: { key: 'indeterminate' } }
  }
})
const body = Buffer.from(JSON.stringify({ issues: Array.from({ length: 50 }, (_unused, index) => issue(index)), nextPageToken: 'n', isLast: false }))
const chunks: Buffer[] = []
for (let at = 0; at < body.length; at += 16_384) chunks.push(body.subarray(at, at + 16_384))

const rounds = 2_000
let objects = 0
for (let round = 0; round < 200; round++) { const counter = new ObjectCounter('issues'); for (const chunk of chunks) counter.write(chunk); objects = counter.objects }
const started = process.cpuUsage()
for (let round = 0; round < rounds; round++) {
  const counter = new ObjectCounter('issues')
  for (const chunk of chunks) counter.write(chunk)
  objects = counter.objects
}
const used = process.cpuUsage(started)
const seconds = (used.user + used.system) / 1e6
console.log(`answer ${(body.length / 1024).toFixed(0)} KB, ${objects} issues: ${(body.length * rounds / seconds / 1e6).toFixed(0)} MB/s, ` +
  `${(seconds / rounds * 1000).toFixed(3)} ms CPU per answer`)
