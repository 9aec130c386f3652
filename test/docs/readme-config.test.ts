/**
 * The README's configuration table names every key the broker has a default for (the style's "configuration (every
 * key)"): a key added to src/config/schema.ts without a row fails here instead of staying undocumented.
 */
import { readFileSync } from 'node:fs'
import t from 'tap'
import { parseConfig } from '../../src/config/load.js'

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

/** The keys a row's first cell names: `a.b`, `a.{b,c}`, and `.c` continuing the previous key's parent (`a.b`, `.c`). */
function rowKeys (cell: string): string[] {
  const keys: string[] = []
  let parent = ''
  for (const [, item = ''] of cell.matchAll(/`([^`]+)`/g)) {
    const name = item.replace(/\[\]$/, '')
    const full = name.startsWith('.') ? `${parent}${name}` : name
    const braces = /^(.*)\.\{([^}]+)\}$/.exec(full)
    const expanded = braces ? (braces[2] as string).split(',').map((part) => `${braces[1]}.${part.trim()}`) : [full]
    keys.push(...expanded)
    parent = full.slice(0, full.lastIndexOf('.'))
  }
  return keys
}

/** Every leaf of the built-in defaults, as a dotted path (arrays are leaves: `policy`). */
function leafKeys (value: unknown, prefix = ''): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [prefix]
  return Object.entries(value).flatMap(([key, inner]) => leafKeys(inner, prefix === '' ? key : `${prefix}.${key}`))
}

t.test('rowKeys reads the table\'s shorthand', async (t) => {
  t.same(rowKeys('`listen.host`, `listen.port`'), ['listen.host', 'listen.port'])
  t.same(rowKeys('`callers.admin.role`, `.roleClaim`'), ['callers.admin.role', 'callers.admin.roleClaim'])
  t.same(rowKeys('`atlassian.timeouts.{connectMs,headersMs}`'), ['atlassian.timeouts.connectMs', 'atlassian.timeouts.headersMs'])
  t.same(rowKeys('`policy[]`'), ['policy'])
})

t.test('every key with a default has a row in the README\'s configuration table', async (t) => {
  const section = README.slice(README.indexOf('\n## Configuration'), README.indexOf('\n## ', README.indexOf('\n## Configuration') + 1))
  const documented = new Set(section.split('\n').filter((line) => line.startsWith('| `')).flatMap((line) => rowKeys(line.split(' | ')[0] ?? '')))
  t.ok(documented.size > 40, `${documented.size} keys in the table`)
  const keys = leafKeys(parseConfig({}))
  t.ok(keys.length > 30, `${keys.length} keys with a default`)
  t.same(keys.filter((key) => !documented.has(key)), [], 'no key is missing from the table')
})
