/**
 * init's InterruptGuard in a real process: a signal before the commit ends the process at once; one during the commit
 * waits until `finish()`, then ends the process by that signal (so the shell still sees Ctrl-C).
 */
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const GUARD = fileURLToPath(new URL('../../src/cli/interrupt-guard.ts', import.meta.url))

async function run (dir: string, body: string): Promise<{ signal: NodeJS.Signals | null, output: string }> {
  const script = path.join(dir, 'guarded.ts')
  writeFileSync(script, `import { InterruptGuard } from ${JSON.stringify(GUARD)}\n${body}\n`)
  const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, closedBy) => resolve(closedBy)))
  return { signal, output }
}

t.test('before the commit a signal ends the process at once', async (t) => {
  const { signal, output } = await run(t.testdir({}), `
const guard = new InterruptGuard()
process.kill(process.pid, 'SIGINT')
setTimeout(() => { process.stdout.write('still running'); guard.finish() }, 2_000)`)
  t.equal(signal, 'SIGINT')
  t.equal(output, '')
})

t.test('during the commit a signal waits for finish(), then ends the process by that signal', async (t) => {
  const { signal, output } = await run(t.testdir({}), `
const guard = new InterruptGuard()
guard.commit()
process.kill(process.pid, 'SIGTERM')
setTimeout(() => { process.stdout.write('commit finished;'); guard.finish(); setTimeout(() => process.stdout.write('after finish'), 2_000) }, 200)`)
  t.equal(signal, 'SIGTERM')
  t.equal(output, 'commit finished;', 'the commit ran to its end; nothing ran after finish()')
})
