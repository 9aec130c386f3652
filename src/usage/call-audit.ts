/**
 * The optional call audit (`usage.auditFile`): one JSON line per proxied call, appended through a non-blocking
 * fs.WriteStream, so a change seen in Jira can be traced back to the caller through Atlassian's request id.
 * Records hold no secret: caller and integration names, the checked path (never the query), statuses and sizes.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs'
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
  readonly #stream: WriteStream
  readonly #logger: Logger
  #dropped = 0

  constructor (file: string, logger: Logger) {
    mkdirSync(path.dirname(file), { recursive: true })
    this.#logger = logger
    this.#stream = createWriteStream(file, { flags: 'a', mode: 0o640 })
    this.#stream.on('error', (error) => this.#logger.error({ file, cause: error.message }, 'call audit file cannot be written'))
    logger.info({ file }, 'call audit enabled')
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
    this.#stream.write(`${JSON.stringify(toRecord(call))}\n`)
  }

  /** Flushes what is buffered and closes the file. */
  close (): Promise<void> {
    return new Promise((resolve) => {
      if (this.#stream.destroyed || this.#stream.closed) { resolve(); return }
      this.#stream.end(() => resolve())
    })
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
