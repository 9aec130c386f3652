/**
 * Every relative link in the repository's Markdown reaches a file that exists, and every `#anchor` a heading of that
 * file (GitHub's anchor rules). Issue 23 moved the README's deep topics to one docs/ page each; a link left pointing
 * at a README section that moved would otherwise rot silently.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** GitHub's anchor of a heading: lower case, punctuation dropped (hyphens and underscores kept), spaces as hyphens. */
function anchorOf (heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-')
}

/** The anchors of a Markdown text's headings, outside fenced code; a repeated heading gets -1, -2... as on GitHub. */
function anchors (markdown: string): Set<string> {
  const seen = new Map<string, number>()
  const found = new Set<string>()
  for (const line of proseLines(markdown)) {
    const heading = /^#{1,6}\s+(.*)$/.exec(line.text)?.[1]
    if (heading === undefined) continue
    const base = anchorOf(heading)
    const count = seen.get(base) ?? 0
    seen.set(base, count + 1)
    found.add(count === 0 ? base : `${base}-${count}`)
  }
  return found
}

function proseLines (markdown: string): Array<{ line: number, text: string }> {
  const lines: Array<{ line: number, text: string }> = []
  let fenced = false
  markdown.split('\n').forEach((text, index) => {
    if (/^\s*```/.test(text)) { fenced = !fenced; return }
    if (!fenced) lines.push({ line: index + 1, text })
  })
  return lines
}

/** `[text](target)` links outside fenced code and inline code spans, with the line they are on. */
function links (markdown: string): Array<{ line: number, target: string }> {
  const found: Array<{ line: number, target: string }> = []
  for (const { line, text } of proseLines(markdown)) {
    const prose = text.replace(/`[^`]*`/g, '')
    for (const match of prose.matchAll(/\]\(([^)\s]+)\)/g)) found.push({ line, target: match[1] as string })
  }
  return found
}

t.test('the anchor rule is GitHub\'s', async (t) => {
  t.equal(anchorOf('Usage: from nothing to a jira.js call'), 'usage-from-nothing-to-a-jirajs-call')
  t.equal(anchorOf('What a sidecar costs'), 'what-a-sidecar-costs')
  t.equal(anchorOf('Step by step (OAuth service-account credential)'), 'step-by-step-oauth-service-account-credential')
  t.equal(anchorOf('`GET /admin` and the `ops` page'), 'get-admin-and-the-ops-page')
})

t.test('every relative link in the Markdown files resolves, anchors included', async (t) => {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '*.md'], { cwd: ROOT, encoding: 'utf8' })
    .split('\0').filter((file) => file !== '' && !file.startsWith('node_modules/') && existsSync(path.join(ROOT, file)))
  t.ok(files.includes('README.md') && files.includes('docs/rotation.md'), `${files.length} Markdown files`)
  let checked = 0
  for (const file of files) {
    for (const { line, target } of links(readFileSync(path.join(ROOT, file), 'utf8'))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue // https:, mailto:: not ours to check here
      const [pathPart = '', anchor] = target.split('#')
      const resolved = pathPart === '' ? path.join(ROOT, file) : path.resolve(path.dirname(path.join(ROOT, file)), decodeURI(pathPart))
      const where = `${file}:${line} → ${target}`
      checked++
      if (!existsSync(resolved)) { t.fail(`${where}: no such file`); continue }
      if (anchor === undefined || !resolved.endsWith('.md')) continue
      t.ok(anchors(readFileSync(resolved, 'utf8')).has(anchor), `${where}: the heading exists`)
    }
  }
  t.ok(checked >= 30, `${checked} relative links checked`)
})
