/**
 * The one appender for JSON-lines audit files (the call audit, usage/call-audit.ts, and the credential audit,
 * credentials/audit.ts): non-blocking, and bounded on disk. Past `maxFileBytes` the file becomes `<file>.1` (replacing
 * the previous one) and a new one starts, so a flood of records holds at most twice the cap (issue 16: 42 MB from a
 * 401 flood, growing without end). It lives at the top of src/ because both folders use it and neither may import the
 * other.
 */
import { createWriteStream, mkdirSync, openSync, renameSync, statSync, type WriteStream } from 'node:fs'
import path from 'node:path'
import type { Logger } from 'pino'

/** Past this much unwritten text (a stalled disk), records are dropped and counted rather than held in memory. */
const MAX_BUFFERED_BYTES = 64 * 1024 * 1024

export interface AuditFileOptions {
  file: string
  /** Default: no cap. */
  maxFileBytes?: number | undefined
  /** File mode for a new file (0o600 for the credential audit, 0o640 for the call audit). */
  mode: number
  /** Names the file in log lines: "call audit", "credential audit". */
  label: string
  logger: Logger
}

export class AuditFile {
  readonly #file: string
  readonly #maxFileBytes: number
  readonly #mode: number
  readonly #label: string
  readonly #logger: Logger
  /** Undefined when the file could not be opened: records then go only to the log, and nothing fails because of it. */
  #stream: WriteStream | undefined
  /** Bytes in the current file: what it held when opened plus what was written since. */
  #bytes: number
  #dropped = 0

  constructor (options: AuditFileOptions) {
    this.#file = options.file
    this.#maxFileBytes = options.maxFileBytes ?? Infinity
    this.#mode = options.mode
    this.#label = options.label
    this.#logger = options.logger
    try {
      mkdirSync(path.dirname(options.file), { recursive: true })
      this.#stream = this.#open()
    } catch (error) {
      // An unwritable audit file must not stop a credential write or the broker's start (the CLI often runs as
      // another user than the broker): the records still reach the log.
      this.#logger.error({ file: this.#file, code: (error as NodeJS.ErrnoException).code }, `${this.#label} file cannot be opened; records go to the log only`)
    }
    this.#bytes = sizeOf(options.file)
  }

  /** Opened synchronously: a stream opening by path later would, after a quick second rotation, open the new file and
   * write into it beside the new stream, past the cap. With the descriptor, its bytes stay with its inode. */
  #open (): WriteStream {
    const stream = createWriteStream('', { fd: openSync(this.#file, 'a', this.#mode) })
    stream.on('error', (error) => this.#logger.error({ file: this.#file, cause: error.message }, `${this.#label} file cannot be written`))
    return stream
  }

  /** `<file>` -> `<file>.1`, then a fresh `<file>`. Writes still buffered in the old stream land in the renamed file
   * (same inode). */
  #rotate (): void {
    try {
      renameSync(this.#file, `${this.#file}.1`)
    } catch (error) {
      this.#logger.error({ file: this.#file, code: (error as NodeJS.ErrnoException).code }, `${this.#label} file cannot be rotated; it keeps growing`)
      this.#bytes = 0
      return
    }
    let next: WriteStream
    try {
      next = this.#open()
    } catch (error) {
      // keep writing through the old descriptor (now <file>.1) rather than throw into a request's hook
      this.#logger.error({ file: this.#file, code: (error as NodeJS.ErrnoException).code }, `${this.#label} file cannot be written`)
      this.#bytes = 0
      return
    }
    this.#stream?.end()
    this.#stream = next
    this.#bytes = 0
    this.#logger.info({ file: this.#file, rotatedTo: `${this.#file}.1` }, `${this.#label} file rotated`)
  }

  /** Appends one record as one line. */
  append (record: unknown): void {
    if (this.#stream === undefined) return
    if (this.#stream.writableLength > MAX_BUFFERED_BYTES || this.#stream.destroyed) {
      if (this.#dropped++ === 0) this.#logger.error(`${this.#label} is falling behind: records are being dropped`)
      return
    }
    if (this.#dropped > 0) {
      this.#logger.warn({ dropped: this.#dropped }, `${this.#label} caught up`)
      this.#dropped = 0
    }
    const line = `${JSON.stringify(record)}\n`
    const bytes = Buffer.byteLength(line)
    if (this.#bytes > 0 && this.#bytes + bytes > this.#maxFileBytes) this.#rotate()
    this.#bytes += bytes
    this.#stream.write(line)
  }

  /** Flushes what is buffered and closes the file. */
  close (): Promise<void> {
    return new Promise((resolve) => {
      const stream = this.#stream
      if (stream === undefined || stream.destroyed || stream.closed) { resolve(); return }
      stream.end(() => resolve())
    })
  }
}

function sizeOf (file: string): number {
  try {
    return statSync(file).size
  } catch {
    return 0
  }
}
