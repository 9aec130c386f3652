/**
 * Load generation, in the orchestrator process: autocannon for saturation, fixed-rate and fixed-count runs, and
 * plain undici for the herd and the streams. Every run fails loudly on errors or non-2xx answers, so a
 * misconfigured broker can never pass for a fast one.
 */
import autocannon, { type Result } from 'autocannon'
import { Readable } from 'node:stream'
import { Pool, request } from 'undici'
import { readCpuSeconds } from './processes.js'

export interface LoadRequest { method: string, path: string, headers: Record<string, string> }

export interface SaturationResult {
  requestsPerSecond: number
  requests: number
  /** CPU seconds the server used per wall second: ~1.0 means it was the bottleneck on its core. */
  serverCpu: number
  /** The server's CPU time per request, µs: its cost, whatever else the machine was doing. */
  cpuMicrosPerRequest: number
}

function check (result: Result, what: string): void {
  if (result.errors > 0 || result.non2xx > 0) {
    throw new Error(`${what}: ${result.errors} errors, ${result.non2xx} non-2xx answers (${JSON.stringify(result.statusCodeStats)})`)
  }
}

async function measured<T> (
  pid: number,
  run: () => Promise<T>
): Promise<{ value: T, cpuSeconds: number, seconds: number }> {
  const cpuBefore = readCpuSeconds(pid)
  const started = performance.now()
  const value = await run()
  const seconds = (performance.now() - started) / 1000
  return { value, cpuSeconds: readCpuSeconds(pid) - cpuBefore, seconds }
}

/** As many requests as `connections` keep-alive connections can push for `durationS` seconds. */
export async function saturate (
  url: string,
  requests: LoadRequest[],
  options: { durationS: number, connections: number, pid: number }
): Promise<SaturationResult> {
  const {
    value: result,
    cpuSeconds,
    seconds
  } = await measured(
    options.pid,
    async () => await autocannon({ url, connections: options.connections, duration: options.durationS, requests })
  )
  check(result, `saturation run against ${url}`)
  return {
    requestsPerSecond: result.requests.total / result.duration,
    requests: result.requests.total,
    serverCpu: cpuSeconds / seconds,
    cpuMicrosPerRequest: (cpuSeconds * 1e6) / result.requests.total
  }
}

/** `count` requests, as fast as they go; for warm-up and the memory scenario. */
export async function sendCount (
  url: string,
  requests: LoadRequest[],
  options: { count: number, connections: number }
): Promise<number> {
  const started = performance.now()
  const result = await autocannon({ url, connections: options.connections, amount: options.count, requests })
  check(result, `${options.count} requests against ${url}`)
  return options.count / ((performance.now() - started) / 1000)
}

export interface LatencyResult {
  achievedRate: number
  p50Ms: number
  p99Ms: number
  p999Ms: number
  samples: number
}

/**
 * A fixed overall rate; every response time is kept with sub-millisecond precision (autocannon's own histogram
 * rounds to whole milliseconds, too coarse for "under 1 ms added").
 */
export async function fixedRate (
  url: string,
  requests: LoadRequest[],
  options: { rate: number, durationS: number, connections: number }
): Promise<LatencyResult> {
  const times: number[] = []
  const instance = autocannon({
    url,
    connections: options.connections,
    duration: options.durationS,
    overallRate: options.rate,
    requests
  })
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    if (statusCode < 300) times.push(responseTime)
  })
  const result = await instance
  check(result, `fixed-rate run against ${url}`)
  const sorted = Float64Array.from(times).sort()
  const at = (quantile: number): number =>
    sorted[Math.min(sorted.length - 1, Math.floor(quantile * sorted.length))] ?? NaN
  return {
    achievedRate: result.requests.total / result.duration,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    p999Ms: at(0.999),
    samples: sorted.length
  }
}

/** `count` requests all at once, each on its own connection; the time until the last is answered. */
export async function herd (
  url: string,
  requests: LoadRequest[],
  count: number
): Promise<{ seconds: number, statuses: Record<number, number> }> {
  const pool = new Pool(url, { connections: count, pipelining: 1 })
  const statuses: Record<number, number> = {}
  const started = performance.now()
  await Promise.all(
    Array.from({ length: count }, async (_, index) => {
      const call = requests[index % requests.length] as LoadRequest
      const response = await pool.request({ method: 'GET', path: call.path, headers: call.headers })
      await response.body.dump()
      statuses[response.statusCode] = (statuses[response.statusCode] ?? 0) + 1
    })
  )
  const seconds = (performance.now() - started) / 1000
  await pool.close()
  return { seconds, statuses }
}

export interface StreamResult { bytes: number, seconds: number, megabytesPerSecond: number }

const CHUNK = Buffer.alloc(65_536, 0x61)

/** Downloads `path` and counts the bytes, never holding more than a chunk. */
export async function download (url: string, path: string, headers: Record<string, string>): Promise<StreamResult> {
  const started = performance.now()
  const response = await request(`${url}${path}`, { headers, bodyTimeout: 600_000, headersTimeout: 60_000 })
  if (response.statusCode !== 200) throw new Error(`download from ${url} answered ${response.statusCode}: ${await response.body.text()}`)
  let bytes = 0
  for await (const chunk of response.body) bytes += (chunk as Buffer).length
  const seconds = (performance.now() - started) / 1000
  return { bytes, seconds, megabytesPerSecond: bytes / 1_048_576 / seconds }
}

/** Uploads `bytes` generated on the fly (content-length known, as a file upload is). */
export async function upload (
  url: string,
  path: string,
  headers: Record<string, string>,
  bytes: number
): Promise<StreamResult> {
  let left = bytes
  const body = new Readable({
    read () {
      if (left <= 0) {
        this.push(null)
        return
      }
      const piece = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left)
      left -= piece.length
      this.push(piece)
    }
  })
  const started = performance.now()
  const response = await request(`${url}${path}`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/octet-stream', 'content-length': String(bytes) },
    body,
    bodyTimeout: 600_000,
    headersTimeout: 600_000
  })
  const answer = (await response.body.json()) as { received?: number }
  const seconds = (performance.now() - started) / 1000
  if (response.statusCode !== 201 || answer.received !== bytes) { throw new Error(`upload to ${url} answered ${response.statusCode}: ${JSON.stringify(answer)}`) }
  return { bytes, seconds, megabytesPerSecond: bytes / 1_048_576 / seconds }
}
