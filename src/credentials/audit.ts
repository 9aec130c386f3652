/**
 * The admin audit trail: one structured record per admin action (who, what, integration, old and new version,
 * outcome), written to the log and, when `callers.admin.auditFile` is set, appended to a JSON-lines file (mode 0600).
 * Records are built field by field from an allow-list, so no credential material can reach them.
 */
import { createWriteStream, type WriteStream } from 'node:fs'
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import { isBrokerError } from '../errors.js'

export type AuditAction = 'rotate' | 'rollback' | 'drop-token'
export type AuditOutcome = 'ok' | 'refused' | 'conflict' | 'failed'

export interface AuditEntry {
  actor: string
  action: AuditAction
  integration: string
  /** Where the action came from: the admin API (with its request id) or the CLI. */
  via: 'admin-api' | 'admin-listener' | 'cli'
  requestId?: string | undefined
  oldVersion?: number | undefined
  newVersion?: number | undefined
  outcome: AuditOutcome
  /** The broker error code when the action failed. */
  code?: string | undefined
  /** Short words without secrets: "verified at the token endpoint", "restored version 3", "no cached token". */
  detail?: string | undefined
}

/** One line of the audit file. Versions are null when there was none (a first rotation, a store that could not be
 * read). */
export interface AuditRecord extends Omit<AuditEntry, 'oldVersion' | 'newVersion'> {
  at: string
  type: 'admin-audit'
  oldVersion: number | null
  newVersion: number | null
}

/** Maps an error to its audit outcome and code. */
export function auditFailure (error: unknown): { outcome: AuditOutcome, code: string | undefined } {
  const known = isBrokerError(error) ? error.code : undefined
  if (known === 'BROKER_ERR_SECRET_VERSION_CONFLICT') return { outcome: 'conflict', code: known }
  const status = isBrokerError(error) ? error.statusCode : undefined
  if (known !== undefined && typeof status === 'number' && status < 500) return { outcome: 'refused', code: known }
  return { outcome: 'failed', code: known ?? 'BROKER_ERR_INTERNAL' }
}

export class AuditLog {
  readonly #logger: Logger
  readonly #clock: Clock
  readonly #stream: WriteStream | undefined

  constructor (options: { logger: Logger, clock: Clock, file?: string | undefined }) {
    this.#logger = options.logger
    this.#clock = options.clock
    if (options.file !== undefined) {
      this.#stream = createWriteStream(options.file, { flags: 'a', mode: 0o600 })
      this.#stream.on('error', (error: NodeJS.ErrnoException) => {
        this.#logger.error({ file: options.file, code: error.code }, 'cannot write the admin audit file; records still go to the log')
      })
    }
  }

  record (entry: AuditEntry): AuditRecord {
    const record: AuditRecord = {
      at: new Date(this.#clock.now()).toISOString(),
      type: 'admin-audit',
      actor: entry.actor,
      action: entry.action,
      integration: entry.integration,
      via: entry.via,
      ...(entry.requestId === undefined ? {} : { requestId: entry.requestId }),
      oldVersion: entry.oldVersion ?? null,
      newVersion: entry.newVersion ?? null,
      outcome: entry.outcome,
      ...(entry.code === undefined ? {} : { code: entry.code }),
      ...(entry.detail === undefined ? {} : { detail: entry.detail })
    }
    const level = entry.outcome === 'ok' ? 'info' : 'warn'
    this.#logger[level]({ audit: record }, `admin ${entry.action} of ${entry.integration} by ${entry.actor}: ${entry.outcome}`)
    this.#stream?.write(`${JSON.stringify(record)}\n`)
    return record
  }

  /** Flushes and closes the file. */
  async close (): Promise<void> {
    const stream = this.#stream
    if (stream === undefined || stream.closed) return
    await new Promise<void>((resolve) => stream.end(resolve))
  }
}
