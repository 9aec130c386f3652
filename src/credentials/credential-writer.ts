/**
 * The one way a credential is written (issue 23: `secrets put` skipped verification and the audit, `init` and rotate
 * each had their own path). `secrets put`, `init`, `secrets rotate|rollback` and the admin API's rotate and rollback
 * all come here, and every write takes the same four steps:
 * 1. verify against Atlassian (atlassian/credential-probe.ts), skipped only on an explicit `verify: false`, for a
 *    credential Atlassian cannot check yet;
 * 2. write a new version with check-and-set against the version read first (rotation.ts);
 * 3. one audit record, success or not (audit.ts `audited`), with the operator's reason (change-reason.ts), which is
 *    also kept with the version for the history;
 * 4. announce the new version: a running broker adopts it (its fleet hears of it from there, fleet/fleet.ts), the CLI
 *    tells the fleet through Redis (fleet/announce.ts). The caller supplies `announce`, so this module loads neither.
 * A failed announcement never undoes the write: brokers find the new version by revalidation.
 */
import type { Logger } from 'pino'
import type { Dispatcher } from 'undici'
import { createCredentialVerifier, type CredentialCheck, type CredentialVerifier } from '../atlassian/credential-probe.js'
import type { Clock } from '../clock.js'
import type { BrokerConfig } from '../config/schema.js'
import type { SecretStore } from '../secrets/secret-store.js'
import { AuditLog, audited, type AuditEntry } from './audit.js'
import { parseReason } from './change-reason.js'
import { rollbackCredential, rotateCredential, type RollbackInput, type RotateInput, type RotationResult } from './rotation.js'

/** How a new credential arrived: `secrets put`, `init`, or a rotation (CLI or admin API). */
export type WriteAction = 'put' | 'init' | 'rotate'

export interface CredentialWriterOptions {
  store: SecretStore
  verify: CredentialVerifier
  audit: AuditLog
  clock: Clock
  /** Recorded in audit records. */
  via: AuditEntry['via']
  /**
   * Makes the written version known. Resolves true when a fleet was told, false when it could not be reached,
   * undefined when there is none to tell. A throw counts as false, its message (never a secret) kept as the cause.
   */
  announce?: ((result: RotationResult) => Promise<boolean | undefined>) | undefined
}

/**
 * What every writer is built from, the same for the CLI and the broker: the one verifier against the configured
 * token endpoint and API gateway (through `apiDispatcher` when the broker has one), and the credential audit file.
 */
export function credentialWriterParts (
  config: Pick<BrokerConfig, 'atlassian' | 'callers'>,
  deps: { logger: Logger, clock: Clock, apiDispatcher?: Dispatcher | undefined }
): { verify: CredentialVerifier, audit: AuditLog } {
  const verify = createCredentialVerifier({
    tokenUrl: config.atlassian.tokenUrl,
    apiUrl: config.atlassian.apiUrl,
    timeoutMs: config.atlassian.timeouts.tokenMs,
    ...(deps.apiDispatcher === undefined ? {} : { apiDispatcher: deps.apiDispatcher })
  })
  const { auditFile, maxFileBytes } = config.callers.admin
  return { verify, audit: new AuditLog({ logger: deps.logger, clock: deps.clock, file: auditFile, maxFileBytes }) }
}

export interface WriteResult extends RotationResult {
  /** See CredentialWriterOptions.announce. */
  announced: boolean | undefined
  /** Why the fleet was not told, when the announcement said (e.g. "TLS failed (…)"). */
  announceFailure?: string
}

export class CredentialWriter {
  readonly #options: CredentialWriterOptions

  constructor (options: CredentialWriterOptions) {
    this.#options = options
  }

  get store (): SecretStore {
    return this.#options.store
  }

  /** A new credential (the document as received: validated here, never echoed). */
  async write (action: WriteAction, input: RotateInput & { requestId?: string | undefined }): Promise<WriteResult> {
    return await this.#commit(action, input, async (reason) => {
      const result = await rotateCredential(this.#context(), { ...input, reason })
      return { ...result, detail: checkDetail(result.check) }
    })
  }

  /** An older version's credential made current again, as a new version. */
  async rollback (input: RollbackInput & { requestId?: string | undefined }): Promise<WriteResult> {
    return await this.#commit('rollback', input, async (reason) => {
      const result = await rollbackCredential(this.#context(), { ...input, reason })
      return { ...result, detail: `restored version ${result.restoredVersion ?? '?'}; ${checkDetail(result.check)}` }
    })
  }

  #context (): { store: SecretStore, verify: CredentialVerifier, clock: Clock } {
    return { store: this.#options.store, verify: this.#options.verify, clock: this.#options.clock }
  }

  async #commit (
    action: AuditEntry['action'],
    input: { integration: string, actor: string, requestId?: string | undefined, reason?: string | undefined },
    run: (reason: string | undefined) => Promise<RotationResult & { detail: string }>
  ): Promise<WriteResult> {
    const { store, audit, via } = this.#options
    const entry: Parameters<typeof audited>[1] = {
      actor: input.actor, action, integration: input.integration, via, requestId: input.requestId
    }
    const result = await audited(audit, entry, () => store.currentVersion(input.integration), async () => {
      // Checked inside the audited action: a refused reason is recorded as refused, and never copied into the record.
      const reason = parseReason(input.reason)
      if (reason !== undefined) entry.reason = reason
      return await run(reason)
    })
    return { ...result, ...await this.#announce(result) }
  }

  async #announce (result: RotationResult): Promise<Pick<WriteResult, 'announced' | 'announceFailure'>> {
    const announce = this.#options.announce
    if (announce === undefined) return { announced: undefined }
    try {
      return { announced: await announce(result) }
    } catch (error) {
      return { announced: false, announceFailure: error instanceof Error ? error.message : String(error) }
    }
  }
}

/** Short words for the audit record: how the credential was checked. Never a value. */
function checkDetail (check: CredentialCheck | undefined): string {
  if (check === undefined) return 'stored without verification (verify: false)'
  const how = check.credential === 'oauth' ? 'token exchange and ' : ''
  const warned = check.warning === undefined ? '' : ', accepted with a warning (missing scope or permission)'
  return `verified: ${how}GET ${check.probe.path} answered ${check.probe.status}${warned}`
}
