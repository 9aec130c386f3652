/**
 * Which file is on disk: inode, size and modification time. Every writer (this process, the CLI, a restore) replaces
 * the store file by rename, which gives a new inode, so a changed identity means "read it again".
 */
import { readFile, stat } from 'node:fs/promises'
import { isNotFound, unreadable } from './secret-file-error.js'

export interface FileIdentity { ino: number, size: number, mtimeMs: number }

/** The file's text and identity, or undefined when there is no file yet. */
export async function readStoreFile (file: string): Promise<{ text: string, identity: FileIdentity } | undefined> {
  try {
    const identity = await identify(file)
    return identity === undefined ? undefined : { text: await readFile(file, 'utf8'), identity }
  } catch (error) {
    if (isNotFound(error)) return undefined
    throw unreadable(file, error)
  }
}

export async function identify (file: string): Promise<FileIdentity | undefined> {
  try {
    const { ino, size, mtimeMs } = await stat(file)
    return { ino, size, mtimeMs }
  } catch (error) {
    if (isNotFound(error)) return undefined
    throw unreadable(file, error)
  }
}

export function sameIdentity (a: FileIdentity | undefined, b: FileIdentity | undefined): boolean {
  return a?.ino === b?.ino && a?.size === b?.size && a?.mtimeMs === b?.mtimeMs
}
