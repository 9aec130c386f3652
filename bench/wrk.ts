/**
 * wrk (C, one thread, Debian package `wrk`) as the saturation load generator: autocannon, in JavaScript, shares a core
 * with the upstream and tops out before a proxy fills its own core. The request mix is written into a Lua script
 * (formatted once in init(), cycled in request()), and done() prints the summary as one JSON line.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ensureDebianTool } from './debian-tool.js'
import type { LoadRequest, SaturationResult } from './load.js'
import { canPin, readCpuSeconds } from './processes.js'

/** wrk's path, installing the Debian package when missing and root; undefined (and why) when it cannot be had. */
export function ensureWrk (log: (line: string) => void): string | undefined {
  return ensureDebianTool('wrk', 'saturation falls back to autocannon', log)
}

const lua = (text: string): string => JSON.stringify(text) // a JSON string is a valid Lua string literal for ASCII

function script (requests: LoadRequest[]): string {
  const formatted = requests.map((call) => {
    const headers = Object.entries(call.headers).map(([name, value]) => `[${lua(name)}] = ${lua(value)}`).join(', ')
    return `  wrk.format(${lua(call.method)}, ${lua(call.path)}, { ${headers} })`
  })
  return `local calls, n, i
function init (args)
  calls = {
${formatted.join(',\n')}
  }
  n = #calls
  i = 0
end
function request ()
  i = i % n + 1
  return calls[i]
end
function done (summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"durationUs":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50Us":%d,"p99Us":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(99)))
end
`
}

export interface WrkResult extends SaturationResult { p50Ms: number, p99Ms: number }

/**
 * `connections` keep-alive connections for `durationS`, wrk pinned to `cpus`; CPU time read from /proc for `pids`
 * (the proxy's processes) over the run. Errors or non-2xx answers fail the run.
 */
export async function wrkSaturate (
  wrk: string,
  url: string,
  requests: LoadRequest[],
  options: { durationS: number, connections: number, pids: number[], cpus?: string | undefined }
): Promise<WrkResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'atlassian-broker-wrk-'))
  try {
    const file = path.join(dir, 'mix.lua')
    writeFileSync(file, script(requests))
    const args = [
      '-t1',
      `-c${options.connections}`,
      `-d${Math.max(1, Math.round(options.durationS))}s`,
      '--timeout',
      '10s',
      '-s',
      file,
      url
    ]
    const command =
      options.cpus !== undefined && canPin()
        ? (['taskset', ['-c', options.cpus, wrk, ...args]] as const)
        : ([wrk, args] as const)
    const cpuBefore = options.pids.reduce((sum, pid) => sum + readCpuSeconds(pid), 0)
    const started = performance.now()
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(command[0], command[1], { stdio: ['ignore', 'pipe', 'pipe'] })
      let text = ''
      child.stdout.on('data', (chunk: Buffer) => {
        text += chunk.toString()
      })
      child.stderr.on('data', (chunk: Buffer) => {
        text += chunk.toString()
      })
      child.once('error', reject)
      child.once('exit', (code) => {
        if (code === 0) resolve(text)
        else reject(new Error(`wrk exited ${code}: ${text}`))
      })
    })
    const seconds = (performance.now() - started) / 1000
    const cpuSeconds = options.pids.reduce((sum, pid) => sum + readCpuSeconds(pid), 0) - cpuBefore
    const line = output.split('\n').find((candidate) => candidate.startsWith('{"requests"'))
    if (line === undefined) throw new Error(`wrk printed no summary: ${output}`)
    const summary = JSON.parse(line) as {
      requests: number
      durationUs: number
      connect: number
      read: number
      write: number
      status: number
      timeout: number
      p50Us: number
      p99Us: number
    }
    const errors = summary.connect + summary.read + summary.write + summary.timeout
    if (errors > 0 || summary.status > 0) { throw new Error(`wrk against ${url}: ${errors} socket errors, ${summary.status} non-2xx/3xx answers`) }
    // wrk's own duration is its measured window; the CPU window (process spawn to exit) is a little longer.
    return {
      requestsPerSecond: summary.requests / (summary.durationUs / 1e6),
      requests: summary.requests,
      serverCpu: cpuSeconds / seconds,
      cpuMicrosPerRequest: (cpuSeconds * 1e6) / summary.requests,
      p50Ms: summary.p50Us / 1000,
      p99Ms: summary.p99Us / 1000
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
