/**
 * Child processes and temporary directories a test file started, killed and removed when the file's process ends
 * however it ends: an uncaught error skips the teardowns, and tap's timeout ends the file with SIGTERM, which skips
 * 'exit' handlers unless the signal is caught. Without this a timed-out file left its `serve` children listening.
 */
import type { ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'

const children = new Set<ChildProcess>()
const dirs = new Set<string>()

function reap (): void {
  for (const child of children) child.kill('SIGKILL')
  children.clear()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  dirs.clear()
}

process.once('exit', reap)
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.once(signal, () => {
    reap()
    // The default action, as if nobody had listened: the file ends by this signal.
    process.kill(process.pid, signal)
  })
}

/** Killed at exit if still running; forgotten once it exits. */
export function killAtExit (child: ChildProcess): ChildProcess {
  children.add(child)
  child.once('exit', () => { children.delete(child) })
  return child
}

/** Removed at exit unless `forget` is called first (the test removed it itself). */
export function removeAtExit (dir: string): { forget: () => void } {
  dirs.add(dir)
  return { forget: () => { dirs.delete(dir) } }
}
