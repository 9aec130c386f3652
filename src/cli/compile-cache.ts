/**
 * Node's module compile cache (Node 22.10 and later): V8 writes the bytecode of the modules it compiled to a directory,
 * and the next start reads it instead of compiling every source again. Loading and compiling modules is most of the
 * broker's start-up (bench/README.md, "footprint"); on Node 20 these functions do nothing.
 *
 * The directory is $NODE_COMPILE_CACHE when set (Node turns the cache on itself before any code runs), else
 * $XDG_CACHE_HOME/atlassian-broker/compile-cache (~/.cache/...): one owned by the user, because whoever can write the
 * cache can hand this process bytecode for its sources, so never a shared /tmp. NODE_DISABLE_COMPILE_CACHE=1 turns it
 * off. A directory that cannot be created leaves the cache off and start-up as it would be without it.
 */
import module from 'node:module'
import os from 'node:os'
import path from 'node:path'

/** What Node ≥ 22.10 adds to node:module; absent on Node 20. */
interface CompileCacheApi {
  enableCompileCache?: (directory?: string) => unknown
  flushCompileCache?: () => void
}
const api = module as unknown as CompileCacheApi

export function defaultCompileCacheDir (env: NodeJS.ProcessEnv = process.env): string {
  const cacheHome = env.XDG_CACHE_HOME !== undefined && env.XDG_CACHE_HOME !== '' ? env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache')
  return path.join(cacheHome, 'atlassian-broker', 'compile-cache')
}

/** Turns the cache on for every module loaded after this call (Node reports, never throws, when it cannot). */
export function enableCompileCache (env: NodeJS.ProcessEnv = process.env): void {
  api.enableCompileCache?.(env.NODE_COMPILE_CACHE ?? defaultCompileCacheDir(env))
}

/**
 * Writes what was compiled so far. Node writes at a clean exit too; `serve` calls this once it is ready, so a pod
 * that is killed rather than stopped still leaves the cache for its next start.
 */
export function flushCompileCache (): void {
  api.flushCompileCache?.()
}
