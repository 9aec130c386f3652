/**
 * The bench's output: a Markdown table (readable in a terminal, pasted as is into bench/README.md) and a JSON file
 * holding every figure and raw sample, with the machine and process placement, so two runs can be compared.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Metric, ScenarioResult, Settings } from './scenarios/scenario.js'

export interface Machine {
  nproc: number
  cpuModel: string
  node: string
  platform: string
  memoryGiB: number
  loadAverageAtStart: number[]
  loadAverageAtEnd?: number[]
}

export interface BenchReport {
  version: 1
  startedAt: string
  finishedAt?: string
  mode: 'quick' | 'full'
  machine: Machine
  placement: string
  settings: Settings
  scenarios: ScenarioResult[]
}

export function describeMachine (): Machine {
  return {
    nproc: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    node: process.version,
    platform: `${process.platform} ${os.release()}`,
    memoryGiB: Math.round(os.totalmem() / 1_073_741_824),
    loadAverageAtStart: os.loadavg().map((load) => Math.round(load * 100) / 100)
  }
}

function number (value: number, unit: string): string {
  if (!Number.isFinite(value)) return String(value)
  switch (unit) {
    case 'req/s': case 'MB/s': case 'count': case 'µs': return Math.round(value).toLocaleString('en-US')
    case 'ms': return Math.abs(value) >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(3)
    case 's': return value.toFixed(3)
    case 'cores': return value.toFixed(2)
    default: return value.toFixed(1)
  }
}

function comparison (metric: Metric): string {
  if (metric.value === null) return '—'
  if (metric.compare === 'ratio') return `${metric.value.toFixed(2)}×`
  return `${metric.value >= 0 ? '+' : ''}${number(metric.value, metric.unit)} ${metric.unit}`
}

function target (metric: Metric): string {
  if (metric.target === undefined) return ''
  const op = metric.target.op === '>=' ? '≥' : metric.target.op
  if (metric.target.on === 'broker') return `broker ${op} ${metric.target.value}${metric.unit === 'count' ? '' : ` ${metric.unit}`}`
  return metric.compare === 'ratio' ? `${op} ${metric.target.value.toFixed(2)}×` : `${op} ${metric.target.value} ${metric.unit} added`
}

function verdict (metric: Metric): string {
  return metric.pass === undefined ? '' : metric.pass ? 'met' : 'MISSED'
}

/** One Markdown table for all scenarios; with `previous`, a column with the last run's comparison figure. */
export function formatTable (report: BenchReport, previous?: BenchReport): string {
  const header = ['scenario', 'metric', 'broker', 'reference', 'broker vs reference', 'target', '', ...(previous ? ['previous run'] : [])]
  const rows: string[][] = []
  report.scenarios.forEach((scenario, index) => {
    if (scenario.error !== undefined) {
      rows.push([`${index + 1}. ${scenario.name}`, `FAILED: ${scenario.error}`, '', '', '', '', '', ...(previous ? [''] : [])])
      return
    }
    scenario.metrics.forEach((metric, row) => {
      const before = previous?.scenarios
        .find((candidate) => candidate.name === scenario.name)
        ?.metrics.find((candidate) => candidate.name === metric.name)
      rows.push([
        row === 0 ? `${index + 1}. ${scenario.name}` : '',
        `${metric.name} (${metric.unit})`,
        number(metric.broker, metric.unit),
        metric.baseline === null ? '—' : number(metric.baseline, metric.unit),
        comparison(metric),
        target(metric),
        verdict(metric),
        ...(previous ? [before ? comparison(before) : ''] : [])
      ])
    })
  })
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)))
  const line = (cells: string[]): string => `| ${cells.map((cell, column) => cell.padEnd(widths[column] as number)).join(' | ')} |`
  return [line(header), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...rows.map(line)].join('\n')
}

export function formatNotes (report: BenchReport): string {
  const lines = [
    `Machine: ${report.machine.nproc} CPUs (${report.machine.cpuModel}), ${report.machine.memoryGiB} GiB, Node ${report.machine.node}, ${report.machine.platform}; ` +
      `load average ${report.machine.loadAverageAtStart.join(' ')} at start${report.machine.loadAverageAtEnd ? `, ${report.machine.loadAverageAtEnd.join(' ')} at end` : ''}.`,
    `Processes: ${report.placement}`
  ]
  for (const scenario of report.scenarios) {
    if (scenario.error !== undefined) continue
    lines.push(`- ${scenario.name} (${scenario.title}; reference: ${scenario.reference}): ${scenario.notes.join('; ')}`)
  }
  return lines.join('\n')
}

export function writeReport (file: string, report: BenchReport): void {
  mkdirSync(path.dirname(file), { recursive: true })
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`)
}

export function readReport (file: string): BenchReport | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as BenchReport
  } catch {
    return undefined
  }
}
