/**
 * The pinned Python tools (schemathesis, atlassian-python-api) in their cached venv, installed on first use by
 * test/interop/python/setup-venv.sh. A test skips only when the machine has no Python; a failed install fails it.
 */
import { execFile } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const SETUP = fileURLToPath(new URL('../interop/python/setup-venv.sh', import.meta.url))

export type PythonTools = { ok: true, venv: string, bin: (name: string) => string } | { ok: false, skip: string }

export async function pythonTools (): Promise<PythonTools> {
  try {
    const { stdout } = await run('bash', [SETUP], { timeout: 600_000, maxBuffer: 1 << 20 })
    const venv = stdout.trim().split('\n').at(-1) ?? ''
    return { ok: true, venv, bin: (name) => path.join(venv, 'bin', name) }
  } catch (error) {
    const failed = error as { code?: number, stderr?: string }
    if (failed.code === 3) return { ok: false, skip: 'python3 (with venv) is not installed on this machine' }
    throw new Error(`installing the pinned Python tools failed (exit ${String(failed.code)}): ${String(failed.stderr).slice(-2000)}`)
  }
}
