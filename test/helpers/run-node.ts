/** Runs a Node script in a child process (the suite's own Node, with tsx) and collects what it printed. */
import { spawn } from 'node:child_process'

export interface NodeRun { code: number | null, output: string }

/** `node --import tsx ...args` in `cwd`; stdout and stderr together, in arrival order. */
export function runNode (args: string[], options: { cwd: string }): Promise<NodeRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
    child.once('error', reject)
    child.once('exit', (code) => resolve({ code, output }))
  })
}
