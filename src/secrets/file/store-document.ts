/**
 * What the embedded store's envelope holds: per integration, its metadata and its versions (the newest
 * `maxVersions` with their value, older ones kept in history without it). Opening a file's text into this document and
 * sealing it back (envelope.ts) happen here; the store (file-store.ts) decides when.
 */
import { METADATA_KEYS, type CredentialData, type SecretMetadata } from '../secret-store.js'
import { openEnvelope, parseEnvelope, seal } from './envelope.js'
import type { ScryptParams, StoreKeys } from './master-key.js'
import { SecretFileError } from './secret-file-error.js'

/** The plaintext inside the envelope. A version without `data` has been pruned. */
export interface VersionRecord {
  version: number
  createdAt: string
  writtenBy?: string
  reason?: string
  data?: CredentialData
}
export interface IntegrationRecord {
  createdAt: string
  updatedAt: string
  metadata: SecretMetadata
  versions: VersionRecord[]
}
export type Integrations = ReadonlyMap<string, IntegrationRecord>

/** The key and kdf a write seals with: those of the file last read, or new ones for a new store. */
export interface Sealing { key: Buffer, kdf: ScryptParams | undefined }

/** Decrypts and parses a store file's text; a wrong key or a damaged file is a SecretFileError naming the file. */
export async function openDocument (
  text: string,
  file: string,
  keys: StoreKeys,
  keyAdvice: string
): Promise<{ integrations: Integrations, sealing: Sealing }> {
  const envelope = parseEnvelope(text, file)
  if (keys.passphrase && envelope.kdf === undefined) {
    throw new SecretFileError('wrong-key', `${file} was encrypted with a 32-byte key, but BROKER_MASTER_KEY holds a passphrase; ${keyAdvice}. The file was left untouched`)
  }
  const key = await keys.keyFor(envelope.kdf)
  const plaintext = openEnvelope(envelope, key, file, keyAdvice)
  try {
    const document = JSON.parse(plaintext.toString('utf8')) as { integrations: Record<string, IntegrationRecord> }
    const integrations = new Map(
      Object.entries(document.integrations).map(([name, record]) => [name, freezeRecord(record)])
    )
    return { integrations, sealing: { key, kdf: envelope.kdf } }
  } finally {
    plaintext.fill(0)
  }
}

/** The envelope's text for these integrations; the plaintext is wiped once sealed. */
export function sealDocument (integrations: Integrations, sealing: Sealing): string {
  const plaintext = Buffer.from(JSON.stringify({ integrations: Object.fromEntries(integrations) }))
  const sealed = seal(plaintext, sealing.key, sealing.kdf)
  plaintext.fill(0)
  return sealed
}

/** The record after storing `data` as its next version: values past the newest `maxVersions` are dropped. */
export function withNewVersion (
  record: IntegrationRecord | undefined,
  change: {
    data: CredentialData
    now: string
    writtenBy: string | undefined
    reason?: string | undefined
    metadata: SecretMetadata
  },
  maxVersions: number
): { next: IntegrationRecord, version: number } {
  const version = (record?.versions.at(-1)?.version ?? 0) + 1
  const added: VersionRecord = {
    version,
    createdAt: change.now,
    ...(change.writtenBy === undefined ? {} : { writtenBy: change.writtenBy }),
    ...(change.reason === undefined ? {} : { reason: change.reason }),
    data: Object.freeze({ ...change.data })
  }
  const versions = [...(record?.versions ?? []), added]
  const keepFrom = versions.length - maxVersions
  const next: IntegrationRecord = {
    createdAt: record?.createdAt ?? change.now,
    updatedAt: change.now,
    metadata: mergeMetadata(record?.metadata ?? {}, change.metadata),
    versions: versions.map((entry, index) =>
      index < keepFrom && entry.data !== undefined ? withoutData(entry) : entry
    )
  }
  return { next, version }
}

/** The record with `metadata`'s known keys merged in. */
export function withMetadata (record: IntegrationRecord, metadata: SecretMetadata, now: string): IntegrationRecord {
  return { ...record, updatedAt: now, metadata: mergeMetadata(record.metadata, metadata) }
}

function mergeMetadata (current: SecretMetadata, patch: SecretMetadata): SecretMetadata {
  const merged: SecretMetadata = { ...current }
  for (const key of METADATA_KEYS) {
    const value = patch[key]
    if (typeof value === 'string') merged[key] = value
  }
  return Object.freeze(merged)
}

function withoutData (entry: VersionRecord): VersionRecord {
  const { data: _dropped, ...rest } = entry
  return rest
}

function freezeRecord (record: IntegrationRecord): IntegrationRecord {
  for (const entry of record.versions) if (entry.data !== undefined) Object.freeze(entry.data)
  Object.freeze(record.metadata)
  return record
}
