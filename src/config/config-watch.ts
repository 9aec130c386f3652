/**
 * Noticing that the config file changed (`reload.watchFile`). The file's name is not enough to watch: Kubernetes
 * mounts a ConfigMap as `file -> ..data/file`, `..data -> ..2026_…`, and updates it by swapping the `..data` link, so
 * no event ever names the file; and a file that is a symlink changes when its target is edited, in a folder nobody
 * watched. Both missed a revocation (issue 24). So the folders of the path and of what it resolves to are watched,
 * any event there is a cue, and the file's content decides: a reload runs only when what the path reads has changed.
 */
import { createHash } from 'node:crypto'
import { readFileSync, realpathSync, watch, type FSWatcher } from 'node:fs'
import path from 'node:path'

/** Events arrive in bursts (an editor's save, a link swap): one look after they settle. */
const SETTLE_MS = 200

export class ConfigFileWatch {
  readonly #file: string
  readonly #onChange: () => void
  readonly #watchers = new Map<string, FSWatcher>()
  #seen: string | undefined
  #timer: NodeJS.Timeout | undefined
  #closed = false

  /** Calls `onChange` whenever the content the path reads differs from the last content seen. */
  constructor (file: string, onChange: () => void) {
    this.#file = path.resolve(file)
    this.#onChange = onChange
    this.#seen = this.#fingerprint()
    this.#arm()
  }

  close (): void {
    this.#closed = true
    clearTimeout(this.#timer)
    for (const watcher of this.#watchers.values()) watcher.close()
    this.#watchers.clear()
  }

  #cue (): void {
    if (this.#closed) return
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => { this.#look() }, SETTLE_MS)
    this.#timer.unref()
  }

  #look (): void {
    if (this.#closed) return
    // The link may point elsewhere now (a new `..2026_…` folder): follow it before deciding.
    this.#arm()
    const current = this.#fingerprint()
    // Missing or unreadable mid-swap: the next event (the swap's end) looks again.
    if (current === undefined || current === this.#seen) return
    this.#seen = current
    this.#onChange()
  }

  /** Watches the path's folder and the folder of what it resolves to; drops watchers of folders no longer involved. */
  #arm (): void {
    const folders = new Set([path.dirname(this.#file)])
    try { folders.add(path.dirname(realpathSync(this.#file))) } catch { /* missing for now: the path's folder tells */ }
    for (const [folder, watcher] of this.#watchers) {
      if (!folders.has(folder)) {
        watcher.close()
        this.#watchers.delete(folder)
      }
    }
    for (const folder of folders) {
      if (this.#watchers.has(folder)) continue
      try {
        const watcher = watch(folder, () => { this.#cue() })
        // A watched folder that goes away (the old `..2026_…`) ends its watcher; the next look re-arms.
        watcher.on('error', () => {
          watcher.close()
          if (this.#watchers.get(folder) === watcher) this.#watchers.delete(folder)
        })
        watcher.unref()
        this.#watchers.set(folder, watcher)
      } catch { /* a folder that vanished between resolve and watch: the path's folder still cues */ }
    }
  }

  #fingerprint (): string | undefined {
    try {
      return createHash('sha256').update(readFileSync(this.#file)).digest('hex')
    } catch {
      return undefined
    }
  }
}
