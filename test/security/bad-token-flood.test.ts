/**
 * Unauthenticated memory exhaustion (issue 16, item 1): fast-jwt's verification cache also kept failed verifications,
 * so random bad tokens filled it with 10 000 error objects, each with its stack trace. With the heap limit of the
 * Kubernetes example (160 MB), 8 connections of ~8 KB bad tokens crashed the broker ("JavaScript heap out of memory")
 * after about 8 500 requests. Here the real `serve` process runs with a small heap and is driven over real HTTP; memory
 * is read from the child's /proc/<pid>/status. No timing is asserted: only that it survives, answers every request 401,
 * and its resident memory stays within a generous bound of where it was after warm-up.
 */
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import t, { type Test } from 'tap'
import { Pool } from 'undici'
import { stringify } from 'yaml'
import { cliEnv, startCli, waitForLine } from '../helpers/cli.js'

const CALLER_SECRET = 'bad-token-flood-caller-secret-0123456789abcdef'
const HEAP_MB = 96
const TOKENS = 50_000
const WARM_UP = 5_000
const CONNECTIONS = 8
/** Resident memory may grow this much past its level after warm-up (the old cache grew by hundreds of MB). */
const RSS_MARGIN_MB = 48
const USAGE_CAP_BYTES = 1_048_576
/** Enough for the old setting to fill its 10 000-entry cache and then some. */
const CONTROL_TOKENS = 14_000

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

/** A well-formed HS256 token of about 7.5 KB (just under `maxTokenBytes`, 8 KiB by default) with a random signature. */
function badToken (): string {
  const payload = { sub: 'flood', aud: 'atlassian-broker', exp: Math.floor(Date.now() / 1000) + 600, pad: randomBytes(4_200).toString('base64url') }
  return `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}.${randomBytes(32).toString('base64url')}`
}

/** The child's resident memory in MB, as the kernel counts it; NaN once it is gone. */
function rssMb (pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024
  } catch {
    return NaN
  }
}

/** The control's preload: fast-jwt's verifier cache as it was before the fix (failures kept). */
const FAILURE_CACHING = fileURLToPath(new URL('../helpers/failure-caching-verifier.mjs', import.meta.url))

interface Flooded {
  child: ChildProcess
  pid: number
  usageFile: string
  stdoutBytes: () => number
  stderr: () => string
  drive: (until: number) => Promise<void>
  statuses: Map<string, number>
}

/** The real `serve` process with a small heap, and a driver sending bad tokens over CONNECTIONS keep-alive connections.
 * */
async function startFlooded (t: Test, preload?: string): Promise<Flooded> {
  const dir = t.testdir({})
  const usageFile = path.join(dir, 'usage.jsonl')
  writeFileSync(path.join(dir, 'atlassian-broker.yaml'), stringify({
    listen: { host: '127.0.0.1', port: 0 },
    callers: { jwt: { hs256Secret: CALLER_SECRET } },
    integrations: { 'jira-main': { product: 'jira', cloudId: '11111111-1111-1111-1111-111111111111' } },
    usage: { auditFile: usageFile, maxFileBytes: USAGE_CAP_BYTES },
    logging: { level: 'info' }
  }))
  const nodeOptions = [`--max-old-space-size=${HEAP_MB}`, ...(preload === undefined ? [] : [`--import=${pathToFileURL(preload).href}`])].join(' ')
  const child = startCli(['serve'], { cwd: dir, env: cliEnv({ BROKER_MASTER_KEY: 'bad-token-flood-master-key', NODE_OPTIONS: nodeOptions }) })
  let stdoutBytes = 0
  let stderr = ''
  child.stdout?.on('data', (chunk: Buffer) => { stdoutBytes += chunk.length })
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  t.teardown(() => { child.kill('SIGKILL') })
  const { url } = JSON.parse(await waitForLine(child, /listening on/)) as { url: string }
  const pool = new Pool(url, { connections: CONNECTIONS })
  t.teardown(() => pool.destroy())
  const statuses = new Map<string, number>()
  let sent = 0
  const drive = async (until: number): Promise<void> => {
    const worker = async (): Promise<void> => {
      while (sent < until && child.exitCode === null && child.signalCode === null) {
        sent++
        const outcome = await pool.request({ path: '/proxy/jira-main/rest/api/3/myself', method: 'GET', headers: { authorization: `Bearer ${badToken()}` } })
          .then(async (response) => { await response.body.dump(); return String(response.statusCode) }, (error: NodeJS.ErrnoException) => error.code ?? 'error')
        statuses.set(outcome, (statuses.get(outcome) ?? 0) + 1)
      }
    }
    await Promise.all(Array.from({ length: CONNECTIONS }, worker))
  }
  return {
    child,
    pid: child.pid ?? 0,
    usageFile,
    stdoutBytes: () => stdoutBytes,
    stderr: () => stderr,
    drive,
    statuses
  }
}

t.test('regression: 50 000 random bad tokens exhausted the heap; now the broker survives with resident memory flat', { skip: process.platform !== 'linux' ? 'reads /proc/<pid>/status' : false }, async (t) => {
  const { child, pid, usageFile, stdoutBytes, stderr, drive, statuses } = await startFlooded(t)
  await drive(WARM_UP)
  const warm = rssMb(pid)
  t.ok(Number.isFinite(warm), `alive after the ${WARM_UP} warm-up tokens`)
  let peak = warm
  for (let until = WARM_UP + 5_000; until <= TOKENS; until += 5_000) {
    await drive(until)
    t.equal(child.exitCode, null, `alive after ${until} bad tokens`)
    if (child.exitCode !== null) break
    peak = Math.max(peak, rssMb(pid))
  }
  t.same(Object.fromEntries(statuses), { 401: TOKENS }, `every one of ${TOKENS} bad tokens answered 401, none dropped`)
  t.notMatch(stderr(), /heap out of memory/i, 'no heap exhaustion')
  t.ok(peak - warm < RSS_MARGIN_MB, `resident memory after warm-up ${warm.toFixed(0)} MB, peak ${peak.toFixed(0)} MB (margin ${RSS_MARGIN_MB} MB)`)

  // The same flood must not grow the log or the usage file without bound either (issue 16, item 6).
  t.ok(stdoutBytes() < 256 * 1024, `log output stays small under the flood (sampled): ${stdoutBytes()} bytes`)
  const usageBytes = statSync(usageFile).size + statSync(`${usageFile}.1`).size
  t.ok(usageBytes <= 2 * USAGE_CAP_BYTES + 4_096, `usage file and its one rotated copy stay within twice usage.maxFileBytes: ${usageBytes} bytes`)
})

t.test('control: with failed verifications cached (the setting before the fix), the same flood blows the bound', { skip: process.platform !== 'linux' ? 'reads /proc/<pid>/status' : false }, async (t) => {
  const { child, pid, stderr, drive } = await startFlooded(t, FAILURE_CACHING)
  const start = rssMb(pid)
  let peak = start
  for (
    let until = 2_000;
    until <= CONTROL_TOKENS && child.exitCode === null && child.signalCode === null;
    until += 2_000
  ) {
    await drive(until)
    const now = rssMb(pid)
    if (Number.isFinite(now)) peak = Math.max(peak, now)
  }
  const died = await new Promise<boolean>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) { resolve(true); return }
    const timer = setTimeout(() => resolve(false), 2_000)
    child.once('exit', () => { clearTimeout(timer); resolve(true) })
  })
  t.ok(died || peak - start >= RSS_MARGIN_MB, `the old setting either died (${died}; heap exhausted: ${/heap out of memory/i.test(stderr())}) or grew past the margin (${start.toFixed(0)} -> ${peak.toFixed(0)} MB)`)
})
