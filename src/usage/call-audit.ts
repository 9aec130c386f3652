/**
 * The optional call audit (`usage.auditFile`): one JSON line per proxied call, appended without blocking
 * (src/audit-file.ts), so a change seen in Jira can be traced back to the caller through Atlassian's request id.
 * Records hold no secret: caller and integration names, the checked path (never the query), statuses and sizes.
 * Bounded on disk: past `maxFileBytes` the file becomes `<file>.1` and a new one starts, so a flood of refused calls
 * (one record each) holds at most twice the cap (issue 16: 42 MB from a 401 flood, growing without end).
 */
import type { Logger } from 'pino'
import { AuditFile } from '../audit-file.js'
import { rateLimitReasonOf, type ProxiedCall, type UsageSink } from './proxied-call.js'

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
  /** The MCP tool that made the call (docs/mcp.md); null for a call through `/proxy`. */
  tool: string | null
}

export class CallAudit implements UsageSink {
  readonly #file: AuditFile

  constructor (file: string, logger: Logger, options: { maxFileBytes?: number } = {}) {
    this.#file = new AuditFile({ file, maxFileBytes: options.maxFileBytes, mode: 0o640, label: 'call audit', logger })
    logger.info({ file, maxFileBytes: options.maxFileBytes }, 'call audit enabled')
  }

  record (call: ProxiedCall): void {
    this.#file.append(toRecord(call))
  }

  /** Flushes what is buffered and closes the file. */
  close (): Promise<void> {
    return this.#file.close()
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
    rateLimitReason: rateLimitReasonOf(call) ?? null,
    bytesIn: call.bytesIn,
    bytesOut: call.bytesOut,
    tool: call.tool ?? null
  }
}
