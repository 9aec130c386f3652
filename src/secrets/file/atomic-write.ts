/**
 * Crash-safe file writes for the embedded store and its key file: a 0600 temp file beside the target, fsync, rename
 * (or link), fsync of the folder; and the clean-up of temp files a crash left behind.
 */
import { randomBytes } from 'node:crypto'
import { open, readdir, rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import type pino from 'pino'

/** Temp files younger than this may belong to another process writing right now (e.g. the CLI), so they stay. */
const STALE_TEMP_AGE_MS = 60_000

/**
 * Replaces `file` so that a crash at any point leaves the old contents or the new, never a mix: a 0600 (or `mode`)
 * temp file in the same folder (rename is atomic only within one file system), fsync, rename, then fsync of the folder.
 */
export async function writeFileAtomic (file: string, contents: string, options: { mode?: number } = {}): Promise<void> {
  const temp = tempPath(file)
  try {
    const handle = await open(temp, 'wx', 0o600)
    try {
      // A replaced file keeps the mode it had (init's config); the temp is never looser than 0600 before this.
      if (options.mode !== undefined) await handle.chmod(options.mode)
      await handle.writeFile(contents)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(temp, file)
  } catch (error) {
    await rm(temp, { force: true })
    throw error
  }
  await fsyncDirectory(path.dirname(file))
}

/** A unique sibling name for an atomic write; `removeStaleTemps` recognises leftovers after a crash. */
export function tempPath (target: string): string {
  return `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`
}

/** A crash between creating a temp file and renaming it leaves the temp behind; the real file is untouched. */
export async function removeStaleTemps (file: string, logger: pino.Logger): Promise<void> {
  const directory = path.dirname(file)
  const base = path.basename(file)
  for (const name of await readdir(directory)) {
    if (!name.startsWith(`${base}.tmp-`) && !name.startsWith(`${base}.key.tmp-`)) continue
    const leftover = path.join(directory, name)
    // gone already: its writer finished
    const modified = await stat(leftover).then(({ mtimeMs }) => mtimeMs, () => Date.now())
    if (Date.now() - modified < STALE_TEMP_AGE_MS) continue
    await rm(leftover, { force: true })
    logger.warn({ file: leftover }, 'removed a temp file left by an interrupted write')
  }
}

/** Makes a rename or link durable: POSIX only guarantees a directory entry after fsync of the directory. */
export async function fsyncDirectory (directory: string): Promise<void> {
  const handle = await open(directory, 'r')
  try { await handle.sync() } finally { await handle.close() }
}
