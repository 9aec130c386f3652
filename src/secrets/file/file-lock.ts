/**
 * A lock across processes for one file (issue 24: six parallel `secrets put` lost 7 of 18 versions, because each CLI
 * process read the store, changed it and renamed its own copy over the others'). The lock is a sibling file
 * `<file>.lock` created with O_EXCL (`open(…, 'wx')`), which exactly one process can do; it holds the holder's pid and
 * a random token and is removed on release. proper-lockfile does the same with mkdir and a refreshed mtime, but it is
 * not a dependency here and a write holds the lock for milliseconds, so a refresh timer would buy nothing.
 *
 * A holder that died (SIGKILL, power loss) leaves its lock behind. It counts as stale when its pid is not running on
 * this machine, or when it is older than STALE_LOCK_MS (no write holds it that long; this also covers a reused pid).
 * A stale lock is taken away by renaming it to a unique name first and checking that the renamed file is the one
 * judged stale, so two processes that both found it stale cannot each delete the other's fresh lock.
 */
import { randomBytes } from 'node:crypto'
import { link, open, readFile, rename, stat, unlink } from 'node:fs/promises'

/** One read, one seal and one fsync'd rename take milliseconds; a lock this old belongs to a hung or dead holder. */
export const STALE_LOCK_MS = 30_000
/** How long a writer waits for another process's write before giving up. */
export const DEFAULT_LOCK_WAIT_MS = 15_000

/** Kept as the `cause` of the store's BROKER_ERR_SECRET_STORE_UNAVAILABLE; its message names the lock and holder. */
export class FileLockTimeoutError extends Error {
  constructor (readonly lockFile: string, readonly holder: number | undefined) {
    super(`${lockFile} is held by ${holder === undefined ? 'another process' : `process ${holder}`}; if no such process runs, remove the file`)
    this.name = 'FileLockTimeoutError'
  }
}

export interface FileLockOptions {
  /** Give up after this long (FileLockTimeoutError). Default DEFAULT_LOCK_WAIT_MS. */
  waitMs?: number
}

/** Runs `critical` while holding `<file>.lock`; the lock is released however `critical` ends. */
export async function withFileLock<T> (
  file: string,
  critical: () => Promise<T>,
  options: FileLockOptions = {}
): Promise<T> {
  const lockFile = `${file}.lock`
  const token = await acquire(lockFile, options.waitMs ?? DEFAULT_LOCK_WAIT_MS)
  try {
    return await critical()
  } finally {
    await release(lockFile, token)
  }
}

interface Holder { pid: number | undefined, token: string | undefined, ageMs: number }

async function acquire (lockFile: string, waitMs: number): Promise<string> {
  const token = `${process.pid}-${randomBytes(8).toString('hex')}`
  const deadline = Date.now() + waitMs
  let pause = 5
  for (;;) {
    try {
      const handle = await open(lockFile, 'wx', 0o600)
      try { await handle.writeFile(JSON.stringify({ pid: process.pid, token })) } finally { await handle.close() }
      return token
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    const holder = await readHolder(lockFile)
    if (holder === undefined) continue
    if (isStale(holder) && await takeStale(lockFile, holder)) continue
    if (Date.now() > deadline) throw new FileLockTimeoutError(lockFile, holder.pid)
    await new Promise((resolve) => setTimeout(resolve, pause))
    pause = Math.min(pause * 2, 100)
  }
}

async function release (lockFile: string, token: string): Promise<void> {
  // Only our own lock: had it been judged stale and taken (a write that hung past STALE_LOCK_MS), it is not ours now.
  if ((await readHolder(lockFile))?.token === token) await unlink(lockFile).catch(() => {})
}

/** undefined when the lock is gone already. A lock whose holder has not written its pid yet has none. */
async function readHolder (lockFile: string): Promise<Holder | undefined> {
  try {
    const [text, { mtimeMs }] = await Promise.all([readFile(lockFile, 'utf8'), stat(lockFile)])
    let parsed: { pid?: unknown, token?: unknown } = {}
    try { parsed = JSON.parse(text) as typeof parsed } catch { /* being written */ }
    return {
      pid: typeof parsed.pid === 'number' ? parsed.pid : undefined,
      token: typeof parsed.token === 'string' ? parsed.token : undefined,
      ageMs: Date.now() - mtimeMs
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

function isStale (holder: Holder): boolean {
  if (holder.ageMs > STALE_LOCK_MS) return true
  return holder.pid !== undefined && !isRunning(holder.pid)
}

function isRunning (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it runs, under another user.
    return (error as NodeJS.ErrnoException).code !== 'ESRCH'
  }
}

/** Moves the stale lock aside; true when the caller should try to acquire again. */
async function takeStale (lockFile: string, stale: Holder): Promise<boolean> {
  const aside = `${lockFile}.stale-${process.pid}-${randomBytes(4).toString('hex')}`
  try {
    await rename(lockFile, aside)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true
    throw error
  }
  const moved = await readHolder(aside)
  if (moved !== undefined && moved.token !== stale.token) {
    // Another process replaced the stale lock with its own between our read and the rename: put it back.
    await link(aside, lockFile).catch(() => {})
  }
  await unlink(aside).catch(() => {})
  return true
}
