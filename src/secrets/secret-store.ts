/**
 * The narrow seam every secret backend implements (embedded file store, Vault KV v2).
 * Values are the exact JSON a platform team writes: `{client_id, client_secret}` for OAuth
 * integrations or `{token[, email]}` for scoped API tokens.
 */

/** The credential document as stored; keys are the wire names (`client_id`, `token`, ...). */
export type CredentialData = Readonly<Record<string, string>>

/**
 * The fields kept beside a credential (Vault: KV v2 `custom_metadata`), the only ones stores keep: the lifecycle
 * fields, and the site an integration's cloudId was resolved from, the answer and when (src/atlassian/site-cache.ts).
 */
export const METADATA_KEYS = ['rotated_at', 'rotated_by', 'expires_at', 'owner', 'site', 'site_cloud_id', 'site_resolved_at'] as const

export type MetadataKey = typeof METADATA_KEYS[number]

/** All optional, all strings. */
export type SecretMetadata = { [key in MetadataKey]?: string }

export interface StoredSecret {
  integration: string
  version: number
  data: CredentialData
  /** ISO 8601 time this version was written. */
  createdAt: string
}

export interface SecretVersionInfo {
  version: number
  createdAt: string
  /** Destroyed or soft-deleted versions stay in history but cannot be read. */
  readable: boolean
  /** Who wrote this version, when the store knows. */
  writtenBy?: string
  /** Why it was written (`--reason`, the admin API's `reason`), when given and still kept. */
  reason?: string
}

export interface SecretSummary {
  integration: string
  currentVersion: number
  createdAt: string
  updatedAt: string
  metadata: SecretMetadata
}

export interface PutOptions {
  /**
   * Check-and-set: the version the writer believes is current (0 = must not exist yet).
   * A mismatch throws BROKER_ERR_SECRET_VERSION_CONFLICT and writes nothing.
   */
  cas?: number
  /** Merged into the stored metadata (never replaces keys not named). */
  metadata?: SecretMetadata
  /**
   * Why this version is written, kept with the version beside who wrote it (never inside the credential): at most
   * REASON_MAX_CHARACTERS, no control characters (credentials/change-reason.ts checks it before it gets here).
   */
  reason?: string
}

export interface StoreHealth {
  ok: boolean
  /** Short human text without secrets, e.g. "sealed", "unreachable", "ok". */
  detail: string
}

export interface SecretStore {
  /** `file` or `vault`: logged at startup and shown by the admin API. */
  readonly kind: string
  /** The current version, or a given one; undefined when the integration has no secret (or that version is unreadable).
   */
  get(integration: string, version?: number): Promise<StoredSecret | undefined>
  /** Cheap revalidation: the current version number without reading the value. */
  currentVersion(integration: string): Promise<number | undefined>
  put(integration: string, data: CredentialData, options?: PutOptions): Promise<{ version: number }>
  list(): Promise<SecretSummary[]>
  history(integration: string): Promise<SecretVersionInfo[]>
  metadata(integration: string): Promise<SecretMetadata | undefined>
  /** Merge metadata keys (Vault: PATCH on /metadata, because POST replaces the whole map). */
  updateMetadata(integration: string, metadata: SecretMetadata): Promise<void>
  health(): Promise<StoreHealth>
  close(): Promise<void>
}
