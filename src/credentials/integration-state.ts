/** What the admin API shows about an integration: store version, the version in use, the cached token, expiry. Never
 * values. */
import type { IntegrationConfig } from '../config/schema.js'
import { isBrokerError } from '../errors.js'
import type { CredentialExpiry } from './expiry.js'
import type { ExpiryState } from './expiry-rule.js'
import type { CredentialSource } from '../secrets/credential-source.js'
import type { SecretStore, SecretSummary } from '../secrets/secret-store.js'
import type { TokenProvider, TokenState } from '../tokens/token-provider.js'

export interface IntegrationState {
  integration: string
  product: IntegrationConfig['product']
  credential: IntegrationConfig['credential']
  /** The store's current version; null when nothing is stored (or the store could not be read: see storeError). */
  storeVersion: number | null
  /** The version new exchanges use: the cached current version, or the older one while falling back. */
  versionInUse: number | null
  /** Set while Atlassian rejects the store's current version and the one before it is used instead. */
  fallbackFrom: number | null
  /** OAuth only: the cached access token (never its value). */
  accessToken: { cached: boolean, secretVersion: number | null, expiresInSeconds: number | null } | null
  lastExchange: TokenState['lastExchange'] | null
  expiresAt: string | null
  daysToExpiry: number | null
  /** The one expiry rule's verdict (expiry-rule.ts, thresholds from `credentials.expiryWarning`); null without a
   * recorded expiry. Sent so no reader recomputes thresholds. */
  expiryLevel: ExpiryState | null
  owner: string | null
  rotatedAt: string | null
  rotatedBy: string | null
  storeError?: string
}

export interface StateSources {
  integrations: Readonly<Record<string, IntegrationConfig>>
  store: SecretStore
  credentials: CredentialSource
  tokens: TokenProvider
  expiry: CredentialExpiry
}

/** One store read (`list`) for all the integrations asked about. */
export async function integrationStates (sources: StateSources, names: string[]): Promise<IntegrationState[]> {
  let summaries: SecretSummary[] = []
  let storeError: string | undefined
  try {
    summaries = await sources.store.list()
    // The fresh list feeds the one expiry reader, so /metrics and the watcher see what this view shows.
    sources.expiry.observe(summaries)
  } catch (error) {
    storeError = isBrokerError(error) ? error.code : 'BROKER_ERR_SECRET_STORE_UNAVAILABLE'
  }
  const byName = new Map(summaries.map((summary) => [summary.integration, summary]))
  return names.map((name) => stateOf(sources, name, byName.get(name), storeError))
}

function stateOf (
  sources: StateSources,
  name: string,
  summary: SecretSummary | undefined,
  storeError: string | undefined
): IntegrationState {
  const config = sources.integrations[name] as IntegrationConfig
  const token = sources.tokens.state(name)
  const fallbackFrom = token.fallbackFrom ?? null
  const cachedVersion = sources.credentials.cachedVersion(name) ?? null
  const metadata = summary?.metadata ?? {}
  const expiresAt = metadata.expires_at ?? null
  return {
    integration: name,
    product: config.product,
    credential: config.credential,
    storeVersion: summary?.currentVersion ?? null,
    versionInUse: fallbackFrom !== null ? fallbackFrom - 1 : cachedVersion,
    fallbackFrom,
    accessToken:
      config.credential === 'oauth'
        ? {
            cached: token.cached,
            secretVersion: token.cached ? (token.secretVersion ?? null) : null,
            expiresInSeconds: token.expiresInSeconds ?? null
          }
        : null,
    lastExchange: token.lastExchange ?? null,
    expiresAt,
    daysToExpiry: expiresAt === null ? null : (sources.expiry.daysToExpiry(name) ?? null),
    expiryLevel: expiresAt === null ? null : (sources.expiry.state(name) ?? null),
    owner: metadata.owner ?? null,
    rotatedAt: metadata.rotated_at ?? null,
    rotatedBy: metadata.rotated_by ?? null,
    ...(storeError === undefined ? {} : { storeError })
  }
}
