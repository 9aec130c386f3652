/**
 * hey (Go, Debian package `hey`) as the fixed-rate load generator for the latency scenario: autocannon, in JavaScript,
 * shares CPU 0 with the upstream, and at 2,000 req/s its own scheduling was the p99 (bench/README.md). hey's workers
 * each send at `rate / connections` per second; every response time is taken from its CSV output (0.1 ms precision).
 * hey sends one request over and over, so the run uses the mix's first call.
 */
import { spawn } from 'node:child_process'
import { ensureDebianTool } from './debian-tool.js'
import type { LatencyResult, LoadRequest } from './load.js'
import { canPin } from './processes.js'

export function ensureHey (log: (line: string) => void): string | undefined {
  return ensureDebianTool('hey', 'the latency scenario falls back to autocannon', log)
}

export async function heyFixedRate (
  hey: string,
  url: string,
  call: LoadRequest,
  options: { rate: number, durationS: number, connections: number, cpus?: string | undefined }
): Promise<LatencyResult> {
  const args = [
    '-z', `${Math.max(1, Math.round(options.durationS))}s`,
    '-c', String(options.connections),
    '-q', String(options.rate / options.connections),
    '-m', call.method,
    '-o', 'csv',
    ...Object.entries(call.headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]),
    `${url}${call.path}`
  ]
  const command = options.cpus !== undefined && canPin() ? (['taskset', ['-c', options.cpus, hey, ...args]] as const) : ([hey, args] as const)
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(command[0], command[1], { stdio: ['ignore', 'pipe', 'pipe'] })
    let text = ''
    let errors = ''
    child.stdout.on('data', (chunk: Buffer) => { text += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { errors += chunk.toString() })
    child.once('error', reject)
    child.once('exit', (code) => {
      if (code === 0) resolve(text)
      else reject(new Error(`hey exited ${code}: ${errors}`))
    })
  })
  // response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset
  const rows = output.trim().split('\n').slice(1).map((line) => line.split(','))
  const failed = rows.filter((row) => !/^2\d\d$/.test(row[6] ?? ''))
  if (rows.length === 0 || failed.length > 0) {
    throw new Error(`hey against ${url}: ${failed.length} of ${rows.length} answers were not 2xx (${failed[0]?.[6] ?? 'none answered'})`)
  }
  const sorted = Float64Array.from(rows, (row) => Number(row[0]) * 1000).sort()
  const at = (quantile: number): number =>
    sorted[Math.min(sorted.length - 1, Math.floor(quantile * sorted.length))] ?? NaN
  const lastOffset = Math.max(...rows.map((row) => Number(row[7])))
  return {
    achievedRate: rows.length / (lastOffset > 0 ? lastOffset : options.durationS),
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    p999Ms: at(0.999),
    samples: sorted.length
  }
}
