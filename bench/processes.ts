/**
 * The bench's processes: each server (upstream, baseline, broker) runs in its own child, optionally pinned to a CPU
 * with taskset, and talks to the orchestrator over IPC ("ready", then request/answer by id). Memory and CPU time are
 * read from /proc, so a child is measured from outside without its own cooperation.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { Session } from 'node:inspector/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** A sibling module of the bench as this run sees it: dist/bench/NAME.js when built, bench/NAME.ts under tsx. */
export function benchModule (name: string): string {
  const here = fileURLToPath(import.meta.url)
  return path.join(path.dirname(here), `${name}${path.extname(here)}`)
}

let tasksetChecked: boolean | undefined
export function canPin (): boolean {
  tasksetChecked ??= process.platform === 'linux' && spawnSync('taskset', ['-c', '0', 'true']).status === 0
  return tasksetChecked
}

/** Pins the orchestrator (the load generator) itself, all its threads. */
export function pinSelf (cpus: string | undefined): void {
  if (cpus !== undefined && canPin()) spawnSync('taskset', ['-a', '-p', '-c', cpus, String(process.pid)])
}

export interface SpawnOptions {
  /** taskset CPU list ("1", "0-1"); undefined leaves placement to the scheduler. */
  cpus?: string | undefined
  nodeArgs?: string[]
  env?: NodeJS.ProcessEnv
  args?: string[]
}

export interface Message { type: string, id?: number, [key: string]: unknown }

export class ChildServer<Ready extends object> {
  #nextId = 1
  readonly #pending = new Map<number, { resolve: (value: Message) => void, reject: (error: Error) => void }>()
  #exited: Promise<void>

  private constructor (readonly child: ChildProcess, readonly ready: Ready) {
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()))
    child.on('message', (message: Message) => {
      const waiter = message.id === undefined ? undefined : this.#pending.get(message.id)
      if (waiter && message.id !== undefined) {
        this.#pending.delete(message.id)
        waiter.resolve(message)
      }
    })
    child.once('exit', (code, signal) => {
      for (const waiter of this.#pending.values()) waiter.reject(new Error(`child exited (${code ?? signal})`))
      this.#pending.clear()
    })
  }

  get pid (): number { return this.child.pid as number }

  static async start<Ready extends object> (module: string, options: SpawnOptions = {}): Promise<ChildServer<Ready>> {
    // The child runs the way this process runs (tsx's loader under tests, plain node for dist/).
    const nodeArgs = [...process.execArgv.filter((arg) => !arg.startsWith('--cpu-prof')), ...(options.nodeArgs ?? [])]
    const argv = [...nodeArgs, module, ...(options.args ?? [])]
    const pinned = options.cpus !== undefined && canPin()
    const child = pinned
      ? spawn('taskset', ['-c', options.cpus as string, process.execPath, ...argv], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, ...options.env } })
      : spawn(process.execPath, argv, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, ...options.env } })
    const ready = await new Promise<Ready>((resolve, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`${path.basename(module)} exited with ${code} before it was ready`))
      child.once('exit', onExit)
      child.once('error', reject)
      child.on('message', function onMessage (message: Message) {
        if (message.type !== 'ready') return
        child.off('message', onMessage)
        child.off('exit', onExit)
        resolve(message as unknown as Ready)
      })
    })
    return new ChildServer(child, ready)
  }

  async request<T extends object> (type: string, payload: Record<string, unknown> = {}): Promise<T> {
    const id = this.#nextId++
    const answer = new Promise<Message>((resolve, reject) => this.#pending.set(id, { resolve, reject }))
    this.child.send({ type, id, ...payload })
    const message = await answer
    if (typeof message.error === 'string') throw new Error(message.error)
    return message as unknown as T
  }

  /** Asks the child to close and exit (so --cpu-prof writes its profile); kills it if it does not within 10 s. */
  async stop (): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    this.child.send({ type: 'stop', id: 0 })
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000)
    await this.#exited
    clearTimeout(timer)
  }
}

/** Child side: announce readiness and answer the orchestrator's requests. */
export function serveParent (
  ready: Record<string, unknown>,
  handlers: Record<string, (message: Message) => Promise<Record<string, unknown>>>,
  stop: () => Promise<void>
): void {
  process.on('message', (message: Message) => {
    if (message.type === 'stop') {
      stop().then(
        () => process.exit(0),
        () => process.exit(1)
      )
      return
    }
    const handler = handlers[message.type]
    const reply = (body: Record<string, unknown>): void => {
      process.send?.({ ...body, type: message.type, id: message.id })
    }
    if (!handler) {
      reply({ error: `unknown message ${message.type}` })
      return
    }
    handler(message).then(reply, (error: Error) => reply({ error: error.message }))
  })
  // The orchestrator going away must not leave servers behind.
  process.on('disconnect', () => {
    stop().finally(() => process.exit(0))
  })
  process.send?.({ type: 'ready', ...ready })
}

export interface ProcMemory {
  /** Resident set size now, bytes. */
  rss: number
  /** Peak RSS since start or since the last resetPeak(), bytes. */
  hwm: number
}

export function readMemory (pid: number): ProcMemory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024
  return { rss: field('VmRSS'), hwm: field('VmHWM') }
}

/** Resets VmHWM to the current RSS (Linux: "5" in clear_refs); false where the kernel does not allow it. */
export function resetPeak (pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

const TICKS_PER_SECOND = 100

/** User + system CPU seconds a process has used (utime and stime from /proc/PID/stat). */
export function readCpuSeconds (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
}

/** Samples a process's RSS every `everyMs` until stopped; the highest sample is the peak seen from outside. */
export function sampleRss (pid: number, everyMs = 20): { stop: () => number } {
  let peak = readMemory(pid).rss
  const timer = setInterval(() => {
    try { peak = Math.max(peak, readMemory(pid).rss) } catch { /* exited */ }
  }, everyMs)
  return {
    stop: () => {
      clearInterval(timer)
      try { peak = Math.max(peak, readMemory(pid).rss) } catch { /* exited */ }
      return peak
    }
  }
}

/** Child side: process.memoryUsage(), after two full collections when asked (children run with --expose-gc). */
export async function memoryReport (message: Message): Promise<Record<string, unknown>> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (message.gc === true && gc !== undefined) {
    gc()
    await new Promise((resolve) => setImmediate(resolve))
    gc()
  }
  return { ...process.memoryUsage() }
}

let profiler: Session | undefined

/**
 * Child side: the V8 CPU profiler (what `node --cpu-prof` runs), started and stopped on the orchestrator's word so a
 * profile covers one measured window and not start-up; the profile is written as a .cpuprofile file.
 */
export const profileHandlers = {
  'profile-start': async (): Promise<Record<string, unknown>> => {
    profiler ??= new Session()
    profiler.connect()
    await profiler.post('Profiler.enable')
    await profiler.post('Profiler.start')
    return {}
  },
  'profile-stop': async (message: Message): Promise<Record<string, unknown>> => {
    if (profiler === undefined) throw new Error('profiler not started')
    const { profile } = await profiler.post('Profiler.stop')
    profiler.disconnect()
    writeFileSync(String(message.file), JSON.stringify(profile))
    return { file: message.file }
  }
}

/** A port free on 127.0.0.1 right now, for a child process that takes its port on the command line. */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}
