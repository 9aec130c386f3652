/**
 * The steps of a credential write that cannot break traffic; credential-writer.ts (the one write path) runs them and
 * adds the audit record and the announcement. A credential is verified against Atlassian before it is written
 * (atlassian/credential-probe.ts; skipped only on an explicit `verify: false`), and written as a new version with
 * check-and-set against the version read first,
 * so two rotators never overwrite each other silently: the second gets BROKER_ERR_SECRET_VERSION_CONFLICT (409).
 * Rollback writes an older version's data again as a new version (same checks), so history only ever grows.
 * Rotation metadata (`rotated_at`, `rotated_by`, `expires_at`, `owner`) is merged beside the credential (Vault:
 * KV v2 custom_metadata by PATCH). Nothing here returns or logs a credential value except `stored`, which callers hand
 * to the CredentialSource and never serialise.
 */
import type { Clock } from '../clock.js'
import type { IntegrationConfig } from '../config/schema.js'
import { BadRequestError, SecretVersionConflictError, SecretVersionNotFoundError, StateConflictError } from '../errors.js'
import { credentialKindOf, parseCredential } from '../secrets/credential.js'
import type { SecretMetadata, SecretStore, SecretVersionInfo, StoredSecret } from '../secrets/secret-store.js'
import { parseIsoDate } from './iso-date.js'
import type { CredentialCheck, CredentialVerifier } from '../atlassian/credential-probe.js'

export interface RotationContext {
  store: SecretStore
  verify: CredentialVerifier
  clock: Clock
}

export interface RotateInput {
  integration: string
  config: IntegrationConfig
  /** The credential document as received (validated here; problems never quote values). */
  credential: unknown
  /** Who rotates: the admin's caller id, or `user@cli`. Recorded as `rotated_by`. */
  actor: string
  /** ISO 8601 date or date-time at which the new credential stops working. */
  expiresAt?: string | undefined
  owner?: string | undefined
  /** Check-and-set: the version the rotator believes is current. Default: the version read when the rotation starts. */
  expectedVersion?: number | undefined
  /** false stores the credential without asking Atlassian (one it cannot check yet). Default true. */
  verify?: boolean | undefined
  /** Why: kept with the new version (change-reason.ts checks it; the writer passes it on checked). */
  reason?: string | undefined
}

export interface RollbackInput {
  integration: string
  config: IntegrationConfig
  actor: string
  /** The version whose credential becomes current again. Default: the one before the current version. */
  toVersion?: number | undefined
  expectedVersion?: number | undefined
  /** false restores without asking Atlassian. Default true. */
  verify?: boolean | undefined
  reason?: string | undefined
}

export interface RotationResult {
  integration: string
  oldVersion: number | undefined
  newVersion: number
  /** For rollback: the version whose credential was restored. */
  restoredVersion?: number
  /** Things the operator should know, e.g. an `expires_at` left over from the previous credential. */
  notes: string[]
  /** What the verification found; undefined when the write was not verified (`verify: false`). */
  check: CredentialCheck | undefined
  /** The version just written, for CredentialSource.adopt(). Holds the secret: never serialise it. */
  stored: StoredSecret
}

export interface CredentialHistory {
  integration: string
  currentVersion: number | undefined
  metadata: SecretMetadata
  /** Newest first. */
  versions: SecretVersionInfo[]
}

export async function rotateCredential (context: RotationContext, input: RotateInput): Promise<RotationResult> {
  const kind = credentialKindOf(input.credential)
  if (kind !== undefined && kind !== input.config.credential) {
    throw new StateConflictError(`integration "${input.integration}" takes ${input.config.credential} credentials, and this is a well-formed ${kind} credential`)
  }
  const data = parseCredential(input.config.credential, input.credential)
  const expiresAt = input.expiresAt === undefined ? undefined : parseExpiresAt(input.expiresAt)
  const { store } = context
  const current = await store.currentVersion(input.integration)
  const expected = checkExpected(input.integration, current, input.expectedVersion)
  const before = current === undefined ? undefined : await store.metadata(input.integration)
  const check = input.verify === false ? undefined : await context.verify(input.integration, input.config, data)
  const metadata: SecretMetadata = {
    rotated_at: new Date(context.clock.now()).toISOString(),
    rotated_by: input.actor,
    ...(expiresAt === undefined ? {} : { expires_at: expiresAt }),
    ...(input.owner === undefined || input.owner === '' ? {} : { owner: input.owner })
  }
  const { version } = await store.put(input.integration, data, { cas: expected, metadata, ...reasonOf(input) })
  const notes: string[] = []
  if (expiresAt === undefined && before?.expires_at !== undefined) {
    notes.push(`expires_at still says ${before.expires_at} (set for the previous credential); give the new credential's expiry with --expires-at / expiresAt`)
  }
  return {
    integration: input.integration,
    oldVersion: current,
    newVersion: version,
    notes,
    check,
    stored: storedSecret(input.integration, version, data, context.clock)
  }
}

export async function rollbackCredential (context: RotationContext, input: RollbackInput): Promise<RotationResult> {
  const { store } = context
  const current = await store.currentVersion(input.integration)
  if (current === undefined) throw new SecretVersionNotFoundError('(any)', input.integration)
  const expected = checkExpected(input.integration, current, input.expectedVersion)
  const target = input.toVersion ?? current - 1
  if (!Number.isInteger(target) || target < 1) throw new SecretVersionNotFoundError(String(target), input.integration)
  if (target >= current) throw new StateConflictError(`version ${target} is not older than the current version ${current}; roll back to an earlier one`)
  const older = await store.get(input.integration, target)
  if (older === undefined) throw new SecretVersionNotFoundError(String(target), input.integration)
  const check = input.verify === false ? undefined : await context.verify(input.integration, input.config, older.data)
  const metadata: SecretMetadata = { rotated_at: new Date(context.clock.now()).toISOString(), rotated_by: input.actor }
  const { version } = await store.put(input.integration, older.data, { cas: expected, metadata, ...reasonOf(input) })
  return {
    integration: input.integration,
    oldVersion: current,
    newVersion: version,
    restoredVersion: target,
    notes: [`expires_at and owner were left as they are; set them again if version ${target} expires at a different time`],
    check,
    stored: storedSecret(input.integration, version, older.data, context.clock)
  }
}

/** Versions, who wrote them and when; never values. */
export async function credentialHistory (store: SecretStore, integration: string): Promise<CredentialHistory> {
  const [versions, currentVersion, metadata] = await Promise.all([
    store.history(integration),
    store.currentVersion(integration),
    store.metadata(integration)
  ])
  return {
    integration,
    currentVersion,
    metadata: metadata ?? {},
    versions: [...versions].sort((a, b) => b.version - a.version)
  }
}

/** Accepts a real calendar date or a date-time with an offset (iso-date.ts); returns ISO 8601 (the form every store
 * keeps). */
export function parseExpiresAt (text: string): string {
  const time = parseIsoDate(text.trim())
  if (time === undefined) throw new BadRequestError(`cannot read expiry date "${text.slice(0, 40)}"; use a real ISO 8601 date, e.g. 2027-03-31 or 2027-03-31T12:00:00Z`)
  return new Date(time).toISOString()
}

function checkExpected (integration: string, current: number | undefined, expected: number | undefined): number {
  const actual = current ?? 0
  if (expected !== undefined && expected !== actual) throw new SecretVersionConflictError(integration, expected)
  return actual
}

function reasonOf (input: { reason?: string | undefined }): { reason?: string } {
  return input.reason === undefined ? {} : { reason: input.reason }
}

function storedSecret (integration: string, version: number, data: StoredSecret['data'], clock: Clock): StoredSecret {
  return { integration, version, data, createdAt: new Date(clock.now()).toISOString() }
}
