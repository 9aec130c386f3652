/**
 * Reads a V8 .cpuprofile (from `npm run bench -- --cpu-prof DIR`) and prints where the time went: the top functions
 * by self time, the same grouped by package or source folder, and, with --match, the inclusive time of the
 * functions whose name or file matches (e.g. --match jwtVerify).
 *
 *   node dist/bench/profile.js FILE.cpuprofile [--top 25] [--match REGEX]
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  hitCount?: number
  children?: number[]
}

interface CpuProfile { nodes: ProfileNode[], samples: number[], timeDeltas: number[] }

export interface Row { name: string, ms: number, share: number }

export interface ProfileSummary { totalMs: number, idleMs: number, byFunction: Row[], byPlace: Row[], matched: Row[] }

function place (url: string): string {
  if (url === '') return '(native/V8)'
  if (url.startsWith('node:')) return url
  const modules = url.lastIndexOf('/node_modules/')
  if (modules !== -1) {
    const rest = url.slice(modules + '/node_modules/'.length).split('/')
    return (rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]) ?? url
  }
  const src = url.search(/\/(src|bench)\//)
  return src === -1 ? url : url.slice(src + 1).replace(/\/[^/]*$/, '/')
}

function label (node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame
  const file = url === '' ? '' : ` ${url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\/.*?\/(src|bench|dist)\//, '$1/')}:${lineNumber + 1}`
  return `${functionName === '' ? '(anonymous)' : functionName}${file}`
}

function rows (totals: Map<string, number>, totalMs: number, top: number): Row[] {
  return [...totals].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, ms]) => ({ name, ms, share: ms / totalMs }))
}

export function summarize (profile: CpuProfile, options: { top?: number, match?: RegExp } = {}): ProfileSummary {
  const top = options.top ?? 25
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const self = new Map<number, number>()
  // timeDeltas[i + 1] is the time until the next sample: the time spent where sample i was taken.
  profile.samples.forEach((id, index) =>
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[index + 1] ?? 0) / 1000)
  )
  let totalMs = 0
  let idleMs = 0
  const byFunction = new Map<string, number>()
  const byPlace = new Map<string, number>()
  const matched = new Map<string, number>()
  for (const [id, ms] of self) {
    const node = byId.get(id) as ProfileNode
    const name = node.callFrame.functionName
    if (name === '(idle)') { idleMs += ms; continue }
    totalMs += ms
    byFunction.set(label(node), (byFunction.get(label(node)) ?? 0) + ms)
    byPlace.set(place(node.callFrame.url), (byPlace.get(place(node.callFrame.url)) ?? 0) + ms)
    if (options.match) {
      // Inclusive: credit each matching frame on the stack once.
      const seen = new Set<string>()
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const frame = byId.get(at) as ProfileNode
        const frameLabel = label(frame)
        if (!seen.has(frameLabel) && options.match.test(frameLabel)) {
          seen.add(frameLabel)
          matched.set(frameLabel, (matched.get(frameLabel) ?? 0) + ms)
        }
      }
    }
  }
  return {
    totalMs,
    idleMs,
    byFunction: rows(byFunction, totalMs, top),
    byPlace: rows(byPlace, totalMs, top),
    matched: rows(matched, totalMs, top)
  }
}

function print (title: string, list: Row[]): void {
  process.stdout.write(`\n${title}\n`)
  for (const row of list) process.stdout.write(`${(row.share * 100).toFixed(1).padStart(6)}%  ${row.ms.toFixed(0).padStart(7)} ms  ${row.name}\n`)
}

if (process.argv[1]?.endsWith('profile.js') === true || process.argv[1]?.endsWith('profile.ts') === true) {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string' }, match: { type: 'string' } }, allowPositionals: true })
  const file = positionals[0]
  if (file === undefined) throw new Error('usage: profile FILE.cpuprofile [--top N] [--match REGEX]')
  const summary = summarize(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, {
    top: values.top === undefined ? 25 : Number(values.top),
    ...(values.match === undefined ? {} : { match: new RegExp(values.match, 'i') })
  })
  process.stdout.write(`${file}: ${summary.totalMs.toFixed(0)} ms on CPU (${summary.idleMs.toFixed(0)} ms idle not counted)\n`)
  print('Top functions by self time', summary.byFunction)
  print('Self time by package or source folder', summary.byPlace)
  if (values.match !== undefined) print(`Inclusive time of frames matching /${values.match}/i`, summary.matched)
}
