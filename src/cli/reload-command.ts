/**
 * `atlassian-broker reload`: asks the running broker to reload its config without knowing its pid. `npm start` runs
 * npm → sh → node, and a SIGHUP to npm's pid killed npm and left the broker un-reloaded (issue 24 §7), so `serve`
 * writes its own pid to `{dataDir}/broker.pid` (server.ts) and this command signals that process, after checking it
 * is alive and is a broker (on Linux, by its command line), never whatever reused a stale pid.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { PID_FILE } from '../server.js'
import { UsageError } from './io.js'

export function reloadRunningBroker (dataDir: string, out: NodeJS.WritableStream = process.stdout): void {
  const file = path.join(dataDir, PID_FILE)
  let pid: number
  try {
    pid = Number(readFileSync(file, 'utf8').trim())
  } catch {
    throw new UsageError(`no running broker found: ${file} does not exist (is \`atlassian-broker serve\` running with this config?)`)
  }
  if (!Number.isInteger(pid) || pid <= 1) throw new UsageError(`${file} does not hold a process id`)
  if (!isBroker(pid)) throw new UsageError(`${file} names process ${pid}, which is not a running broker (a stale file from a broker that stopped)`)
  process.kill(pid, 'SIGHUP')
  out.write(`sent SIGHUP to the broker (pid ${pid}); its log says "config reloaded", "unchanged" or "config reload refused"\n`)
}

function isBroker (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    // NUL-separated argv; where /proc is missing (macOS), being alive has to do.
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('serve')
  } catch {
    return true
  }
}
