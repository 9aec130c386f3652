/**
 * The layout is the architecture (docs/architecture.md, "Source tree"): this test keeps it so. It reads every src/**.ts
 * file's imports with the TypeScript compiler's pre-processor (static imports and re-exports, `import type` included,
 * and dynamic `import('…')`) and asserts that
 * - no file imports itself back through others (no cycle between files),
 * - no top-level folder of src/ imports itself back through others (no cycle between folders; a top-level file such as
 *   src/broker.ts is its own node, and src/errors.ts, clock.ts and logger.ts are leaves everyone may import),
 * - the domain (everything but src/http/, src/cli/, broker.ts and server.ts) does not import Fastify,
 * - no file is longer than MAX_LINES, apart from the commented exceptions below.
 */
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import ts from 'typescript'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SRC = path.join(ROOT, 'src')
const MAX_LINES = 300
/** Files allowed over MAX_LINES, each with the reason it is not split yet. Keep this list empty where possible. */
const LONG_FILE_EXCEPTIONS: Record<string, string> = {}
/** Imported by everything and importing nothing of the broker's: not a node of the folder graph. */
const LEAVES = new Set(['errors.ts', 'clock.ts', 'logger.ts'])
/** The Fastify edge and the wiring; every other folder is domain and must not know Fastify. */
const EDGE = new Set(['http', 'cli', 'broker.ts', 'server.ts'])
const FASTIFY = /^(fastify|fastify-plugin|@fastify\/.+)$/
/**
 * Fastify packages a domain file may import, each with the reason. errors.ts builds every error with @fastify/error's
 * createError (docs/style.md, "Errors"): a small standalone package that does not bring the framework.
 */
const FASTIFY_EXCEPTIONS: Record<string, string[]> = { 'errors.ts': ['@fastify/error'] }

function sourceFiles (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(full)
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [full] : []
  })
}

/** A file's path relative to src/, with forward slashes: the node name in every message. */
const rel = (file: string): string => path.relative(SRC, file).split(path.sep).join('/')

interface Module { file: string, text: string, specifiers: string[] }

const modules: Module[] = sourceFiles(SRC).map((file) => {
  const text = readFileSync(file, 'utf8')
  const info = ts.preProcessFile(text, true, true)
  return { file: rel(file), text, specifiers: info.importedFiles.map((imported) => imported.fileName) }
})
const known = new Set(modules.map((module) => module.file))

/** Resolves a relative specifier ('./x.js') to the src-relative .ts file it names; undefined for packages. */
function resolveLocal (from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined
  const target = path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier))
  const candidates = [target.replace(/\.js$/, '.ts'), target, `${target}.ts`, `${target}/index.ts`]
  return candidates.find((candidate) => known.has(candidate)) ?? target
}

const fileGraph = new Map<string, Set<string>>()
for (const module of modules) {
  const edges = new Set<string>()
  for (const specifier of module.specifiers) {
    const target = resolveLocal(module.file, specifier)
    if (target !== undefined) edges.add(target)
  }
  fileGraph.set(module.file, edges)
}

/** The node of the folder graph a file belongs to: its top-level folder, or the file itself at src/'s top. */
const folderOf = (file: string): string => file.split('/')[0] ?? file

/**
 * The graph's strongly connected components of more than one node (or with a self-loop): every node of one reaches
 * every other, so each is one or more cycles. Tarjan's algorithm; each component is reported with the edges inside it,
 * so a failure names every import to break, not only the first cycle a walk happens to close.
 */
function cyclicComponents (graph: Map<string, Set<string>>): Array<{ nodes: string[], edges: string[] }> {
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const onStack = new Set<string>()
  const stack: string[] = []
  const components: Array<{ nodes: string[], edges: string[] }> = []
  const connect = (node: string): void => {
    index.set(node, index.size)
    low.set(node, index.get(node) ?? 0)
    stack.push(node)
    onStack.add(node)
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        connect(next)
        low.set(node, Math.min(low.get(node) ?? 0, low.get(next) ?? 0))
      } else if (onStack.has(next)) low.set(node, Math.min(low.get(node) ?? 0, index.get(next) ?? 0))
    }
    if (low.get(node) !== index.get(node)) return
    const nodes: string[] = []
    let member: string | undefined
    do {
      member = stack.pop()
      if (member === undefined) break
      onStack.delete(member)
      nodes.push(member)
    } while (member !== node)
    const inside = new Set(nodes)
    const edges = nodes.flatMap((from) => [...(graph.get(from) ?? [])].filter((to) => inside.has(to)).map((to) => `${from} -> ${to}`))
    if (nodes.length > 1 || edges.length > 0) components.push({ nodes: nodes.sort(), edges: edges.sort() })
  }
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) connect(node)
  return components
}

t.test('the parser sees every kind of import', async (t) => {
  const info = ts.preProcessFile([
    "import a from './a.js'",
    "import type { B } from './b.js'",
    "export { c } from './c.js'",
    "export type { D } from './d.js'",
    "const e = await import('./e.js')",
    "import './f.js'"
  ].join('\n'), true, true)
  t.same(info.importedFiles.map((imported) => imported.fileName), ['./a.js', './b.js', './c.js', './d.js', './e.js', './f.js'])
  t.ok(modules.length > 50, `read ${modules.length} source files`)
})

t.test('the cycle finder finds cycles, self-loops included, and nothing in a tree', async (t) => {
  const graph = (edges: Record<string, string[]>): Map<string, Set<string>> =>
    new Map(Object.entries(edges).map(([from, to]) => [from, new Set(to)]))
  t.same(cyclicComponents(graph({ a: ['b'], b: ['c'], c: ['a'], d: ['a'] })), [{ nodes: ['a', 'b', 'c'], edges: ['a -> b', 'b -> c', 'c -> a'] }])
  t.same(cyclicComponents(graph({ a: ['a'] })), [{ nodes: ['a'], edges: ['a -> a'] }])
  t.same(cyclicComponents(graph({ a: ['b', 'c'], b: ['c'], c: [] })), [])
})

t.test('every relative import names a file that exists', async (t) => {
  const missing = [...fileGraph].flatMap(([file, edges]) =>
    [...edges].filter((target) => !known.has(target)).map((target) => `${file} -> ${target}`))
  t.same(missing, [])
})

t.test('no import cycle between files (type-only imports count)', async (t) => {
  t.same(cyclicComponents(fileGraph), [])
})

t.test('no import cycle between the folders of src/ (type-only imports count)', async (t) => {
  const folderGraph = new Map<string, Set<string>>()
  const why = new Map<string, string>()
  for (const [file, edges] of fileGraph) {
    const from = folderOf(file)
    if (LEAVES.has(from)) continue
    const targets = folderGraph.get(from) ?? new Set<string>()
    folderGraph.set(from, targets)
    for (const target of edges) {
      const to = folderOf(target)
      if (to === from || LEAVES.has(to)) continue
      targets.add(to)
      if (!why.has(`${from} -> ${to}`)) why.set(`${from} -> ${to}`, `${file} -> ${target}`)
    }
  }
  const described = cyclicComponents(folderGraph).map((component) => ({
    folders: component.nodes,
    imports: component.edges.map((edge) => `${edge}: ${why.get(edge) ?? ''}`)
  }))
  t.same(described, [], 'each folder edge of a cycle is shown with one import that makes it')
})

t.test('the leaves import nothing of the broker', async (t) => {
  const offenders = [...LEAVES].flatMap((leaf) => [...(fileGraph.get(leaf) ?? [])].map((target) => `${leaf} -> ${target}`))
  t.same(offenders, [])
})

t.test('domain modules do not import Fastify', async (t) => {
  const offenders = modules
    .filter((module) => !EDGE.has(folderOf(module.file)))
    .flatMap((module) => module.specifiers
      .filter((specifier) => FASTIFY.test(specifier) && !(FASTIFY_EXCEPTIONS[module.file] ?? []).includes(specifier))
      .map((specifier) => `${module.file} imports ${specifier}`))
  t.same(offenders, [])
})

t.test(`no source file is longer than ${MAX_LINES} lines`, async (t) => {
  const long = modules
    .map((module) => ({ file: module.file, lines: module.text.split('\n').length - (module.text.endsWith('\n') ? 1 : 0) }))
    .filter((module) => module.lines > MAX_LINES && !(module.file in LONG_FILE_EXCEPTIONS))
    .map((module) => `${module.file} (${module.lines} lines)`)
  t.same(long, [])
  const stale = Object.keys(LONG_FILE_EXCEPTIONS).filter((file) => !known.has(file))
  t.same(stale, [], 'every exception names a file that still exists')
})
