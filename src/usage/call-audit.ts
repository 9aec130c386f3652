/**
 * The optional call audit (`usage.auditFile`): one JSON line per proxied call, appended through a non-blocking
 * fs.WriteStream, so a change seen in Jira can be traced back to the caller through Atlassian's request id.
 * Records hold no secret: caller and integration names, the checked path (never the query), statuses and sizes.
 * Bounded on disk: past `maxFileBytes` the file becomes `<file>.1` and a new one starts, so a flood of refused calls
 * (one record each) holds at most twice the cap (issue 16: 42 MB from a 401 flood, growing without end).
 */
import { createWriteStream, mkdirSync, openSync, renameSync, statSync, type WriteStream } from 'node:fs'
import path from 'node:path'
import type { Logger } from 'pino'
import type { ProxiedCall, UsageSink } from './proxied-call.js'

/** Past this much unwritten text (a stalled disk), records are dropped and counted rather than held in memory. */
const MAX_BUFFERED_BYTES = 64 * 1024 * 1024

export interface CallAuditRecord {
  at: string
  requestId: string
  caller: string | null
  integration: string | null
  method: string
  path: string
  status: number
  errorCode: string | null
  durationMs: number
  upstreamStatus: number | null
  upstreamMs: number | null
  upstreamRequestId: string | null
  rateLimitReason: string | null
  bytesIn: number
  bytesOut: number
}

export class CallAudit implements UsageSink {
  readonly #file: string
  readonly #maxFileBytes: number
  readonly #logger: Logger
  #stream: WriteStream
  /** Bytes in the current file: what it held when opened plus what was written since. */
  #bytes: number
  #dropped = 0

  constructor (file: string, logger: Logger, options: { maxFileBytes?: number } = {}) {
    mkdirSync(path.dirname(file), { recursive: true })
    this.#file = file
    this.#maxFileBytes = options.maxFileBytes ?? Infinity
    this.#logger = logger
    this.#stream = this.#open()
    this.#bytes = sizeOf(file)
    logger.info({ file, maxFileBytes: options.maxFileBytes }, 'call audit enabled')
  }

  /** Opened synchronously: a stream opening by path later would, after a quick second rotation, open the new file and
   * write into it beside the new stream, past the cap. With the descriptor, its bytes stay with its inode. */
  #open (): WriteStream {
    const stream = createWriteStream('', { fd: openSync(this.#file, 'a', 0o640) })
    stream.on('error', (error) => this.#logger.error({ file: this.#file, cause: error.message }, 'call audit file cannot be written'))
    return stream
  }

  /** `<file>` -> `<file>.1`, then a fresh `<file>`. Writes still buffered in the old stream land in the renamed file
   * (same inode). */
  #rotate (): void {
    try {
      renameSync(this.#file, `${this.#file}.1`)
    } catch (error) {
      this.#logger.error({ file: this.#file, code: (error as NodeJS.ErrnoException).code }, 'call audit file cannot be rotated; it keeps growing')
      this.#bytes = 0
      return
    }
    let next: WriteStream
    try {
      next = this.#open()
    } catch (error) {
      // keep writing through the old descriptor (now <file>.1) rather than throw into a request's hook
      this.#logger.error({ file: this.#file, code: (error as NodeJS.ErrnoException).code }, 'call audit file cannot be written')
      this.#bytes = 0
      return
    }
    this.#stream.end()
    this.#stream = next
    this.#bytes = 0
    this.#logger.info({ file: this.#file, rotatedTo: `${this.#file}.1` }, 'call audit file rotated')
  }

  record (call: ProxiedCall): void {
    if (this.#stream.writableLength > MAX_BUFFERED_BYTES || this.#stream.destroyed) {
      if (this.#dropped++ === 0) this.#logger.error('call audit is falling behind: records are being dropped')
      return
    }
    if (this.#dropped > 0) {
      this.#logger.warn({ dropped: this.#dropped }, 'call audit caught up')
      this.#dropped = 0
    }
    const line = `${JSON.stringify(toRecord(call))}\n`
    const bytes = Buffer.byteLength(line)
    if (this.#bytes > 0 && this.#bytes + bytes > this.#maxFileBytes) this.#rotate()
    this.#bytes += bytes
    this.#stream.write(line)
  }

  /** Flushes what is buffered and closes the file. */
  close (): Promise<void> {
    return new Promise((resolve) => {
      if (this.#stream.destroyed || this.#stream.closed) { resolve(); return }
      this.#stream.end(() => resolve())
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

export function toRecord (call: ProxiedCall): CallAuditRecord {
  return {
    at: new Date(call.at).toISOString(),
    requestId: call.requestId,
    caller: call.caller ?? null,
    integration: call.integration ?? null,
    method: call.method,
    path: call.path,
    status: call.statusCode,
    errorCode: call.errorCode ?? null,
    durationMs: Math.round(call.durationMs * 100) / 100,
    upstreamStatus: call.upstreamStatus ?? null,
    upstreamMs: call.upstreamMs === undefined ? null : Math.round(call.upstreamMs * 100) / 100,
    upstreamRequestId: call.upstreamRequestId ?? null,
    rateLimitReason: call.rateLimitReason ?? null,
    bytesIn: call.bytesIn,
    bytesOut: call.bytesOut
  }
}
