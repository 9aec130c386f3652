/** Runs the real `atlassian-broker` command (through tsx, so no build is needed) and collects its output. */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { killAtExit } from './exit-reaper.js'

export const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))

export interface CliResult { code: number | null, stdout: string, stderr: string }

export function cliEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...extra }
  return env
}

/** `entry`: a built CLI (the bundle's main.js) run as is, instead of the sources through tsx. */
export function startCli (
  args: string[],
  options: { cwd: string, env?: NodeJS.ProcessEnv, entry?: string }
): ChildProcess {
  const argv = options.entry === undefined ? ['--import', 'tsx', CLI, ...args] : [options.entry, ...args]
  const child = spawn(process.execPath, argv, { cwd: options.cwd, env: options.env ?? cliEnv(), stdio: ['pipe', 'pipe', 'pipe'] })
  output(child)
  // A `serve` must not outlive its test file, even one tap ends by its timeout.
  return killAtExit(child)
}

export async function runCli (
  args: string[],
  options: { cwd: string, env?: NodeJS.ProcessEnv, stdin?: string, entry?: string }
): Promise<CliResult> {
  const child = startCli(args, options)
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  child.stdin?.end(options.stdin ?? '')
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  return { code, stdout, stderr }
}

const outputs = new WeakMap<ChildProcess, { text: string }>()

/** Everything the child printed on stdout so far (collected from the moment it is first asked for). */
function output (child: ChildProcess): { text: string } {
  let collected = outputs.get(child)
  if (!collected) {
    const fresh = { text: '' }
    child.stdout?.on('data', (chunk: Buffer) => { fresh.text += chunk.toString() })
    outputs.set(child, fresh)
    collected = fresh
  }
  return collected
}

/** Resolves with the first stdout line matching `pattern` (JSON log lines of `serve`), including lines already printed.
 * */
export async function waitForLine (child: ChildProcess, pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  const collected = output(child)
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const line = collected.text.split('\n').find((candidate) => pattern.test(candidate))
    if (line !== undefined) return line
    if (child.exitCode !== null) throw new Error(`exited ${child.exitCode} before a line matching ${pattern}; got: ${collected.text.slice(-2000)}`)
    if (Date.now() > deadline) throw new Error(`no line matching ${pattern} within ${timeoutMs} ms; got: ${collected.text.slice(-2000)}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
