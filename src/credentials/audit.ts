/**
 * The credential audit trail: one structured record per credential write (`secrets put`, `init`, rotate, rollback, from
 * the CLI or the admin API) and per admin token drop (who, what, integration, old and new version, outcome), written
 * to the log and, when `callers.admin.auditFile` is set, appended to a JSON-lines file (mode 0600) that rotates past
 * `callers.admin.maxFileBytes` like the call audit (src/audit-file.ts). A config reload that changed or was refused is
 * recorded there too, as what changed (rules added, removed, widened), since a policy change is an access change.
 * Records are built field by field from an allow-list, so no credential material can reach them. `audited` is the one
 * wrapper that writes the credential records.
 */
import type { Logger } from 'pino'
import { AuditFile } from '../audit-file.js'
import type { Clock } from '../clock.js'
import type { ReloadOutcome } from '../config/reload.js'
import { isBrokerError } from '../errors.js'

export type AuditAction = 'put' | 'init' | 'rotate' | 'rollback' | 'drop-token'
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
  /** Why the operator made the change, as given (change-reason.ts checked it); absent when none was given. */
  reason?: string | undefined
}

/** One line of the audit file. Versions are null when there was none (a first rotation, a store that could not be
 * read). */
export interface AuditRecord extends Omit<AuditEntry, 'oldVersion' | 'newVersion'> {
  at: string
  type: 'admin-audit'
  oldVersion: number | null
  newVersion: number | null
}

/** One line of the audit file for a config reload: the file, and what it changed or why it was refused. */
export interface ConfigReloadRecord {
  at: string
  type: 'config-reload'
  actor: 'config-file'
  file: string
  outcome: 'ok' | 'refused'
  changes: string[]
  problems: string[]
}

/** The audit outcome of an answer: a concurrent change is a conflict, any other 4xx (a 409 STATE_CONFLICT too: the
 * request does not apply) refused, else failed. */
export function auditOutcome (answer: { statusCode: number, code: string }): { outcome: AuditOutcome, code: string } {
  const outcome = answer.code === 'BROKER_ERR_SECRET_VERSION_CONFLICT' ? 'conflict' : answer.statusCode < 500 ? 'refused' : 'failed'
  return { outcome, code: answer.code }
}

/** Maps an error to its audit outcome and code; anything but a broker error is an internal failure. */
export function auditFailure (error: unknown): { outcome: AuditOutcome, code: string } {
  return isBrokerError(error) && typeof error.statusCode === 'number'
    ? auditOutcome({ statusCode: error.statusCode, code: error.code })
    : { outcome: 'failed', code: 'BROKER_ERR_INTERNAL' }
}

export class AuditLog {
  readonly #logger: Logger
  readonly #clock: Clock
  readonly #file: AuditFile | undefined

  constructor (options: {
    logger: Logger
    clock: Clock
    file?: string | undefined
    maxFileBytes?: number | undefined
  }) {
    this.#logger = options.logger
    this.#clock = options.clock
    this.#file = options.file === undefined
      ? undefined
      : new AuditFile({ file: options.file, maxFileBytes: options.maxFileBytes, mode: 0o600, label: 'credential audit', logger: options.logger })
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
      ...(entry.detail === undefined ? {} : { detail: entry.detail }),
      ...(entry.reason === undefined ? {} : { reason: entry.reason })
    }
    const level = entry.outcome === 'ok' ? 'info' : 'warn'
    this.#logger[level]({ audit: record }, `admin ${entry.action} of ${entry.integration} by ${entry.actor}: ${entry.outcome}`)
    this.#file?.append(record)
    return record
  }

  /** The one record of an attempt refused before its action ran: a body that is not JSON, an unknown integration, a
   * caller without the admin role, a browser on the admin listener, a wrong method. */
  refused (
    entry: Pick<AuditEntry, 'actor' | 'action' | 'integration' | 'via' | 'requestId'>,
    answer: { statusCode: number, code: string, message: string }
  ): AuditRecord {
    return this.record({ ...entry, ...auditOutcome(answer), detail: `refused before the ${entry.action}: ${answer.message.slice(0, 160)}` })
  }

  /** The record of a reload that applied or was refused (an unchanged file changes no access: not recorded). Problems
   * quote the file's text, never an interpolated `${VAR}` value (src/config/load.ts). */
  reload (file: string, result: ReloadOutcome): ConfigReloadRecord | undefined {
    if (result.outcome === 'unchanged') return undefined
    const record: ConfigReloadRecord = {
      at: new Date(this.#clock.now()).toISOString(),
      type: 'config-reload',
      actor: 'config-file',
      file,
      outcome: result.outcome === 'applied' ? 'ok' : 'refused',
      changes: result.outcome === 'applied' ? result.changes : [],
      problems: result.problems
    }
    this.#file?.append(record)
    return record
  }

  /** Flushes and closes the file. */
  async close (): Promise<void> {
    await this.#file?.close()
  }
}

/** What an audited action reports about itself. */
export interface AuditedResult {
  oldVersion?: number | undefined
  newVersion?: number | undefined
  detail?: string | undefined
}

/**
 * Runs one action and writes its one audit record, success or not. On failure the record names the version current
 * at that moment (`currentVersion`; undefined when the store cannot say).
 */
export async function audited<T extends AuditedResult> (
  audit: AuditLog,
  entry: Pick<AuditEntry, 'actor' | 'action' | 'integration' | 'via' | 'requestId' | 'reason'>,
  currentVersion: () => Promise<number | undefined>,
  run: () => Promise<T>
): Promise<T> {
  try {
    const result = await run()
    audit.record({ ...entry, oldVersion: result.oldVersion, newVersion: result.newVersion, outcome: 'ok', detail: result.detail })
    return result
  } catch (error) {
    const oldVersion = await currentVersion().catch(() => undefined)
    audit.record({ ...entry, oldVersion, ...auditFailure(error) })
    throw error
  }
}
