/** The bench's C and Go load generators come from Debian: found on PATH, or installed with apt-get when root. */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

/** The tool's path, installing Debian package `name` when missing and root; undefined (and why, in the log) otherwise.
 * */
export function ensureDebianTool (name: string, fallback: string, log: (line: string) => void): string | undefined {
  const expected = `/usr/bin/${name}`
  const found = existsSync(expected) ? expected : spawnSync('sh', ['-c', `command -v ${name}`]).stdout?.toString().trim()
  if (found) return found
  if (process.getuid?.() !== 0) {
    log(`  ${name} is not installed and this is not root: ${fallback} (apt-get install ${name})`)
    return undefined
  }
  log(`  installing ${name} (apt-get)`)
  const script = `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${name}`
  const installed = spawnSync('sh', ['-c', script], { stdio: 'ignore' })
  if (installed.status === 0 && existsSync(expected)) return expected
  log(`  ${name} could not be installed: ${fallback}`)
  return undefined
}
