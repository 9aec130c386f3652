/**
 * Resolved sites kept in the secret store's metadata, beside the integration's credential (Vault: KV v2
 * `custom_metadata` keys `site`, `site_cloud_id`, `site_resolved_at`). The data-dir cache (site-resolver.ts) dies with
 * a pod; this one is shared by every sidecar reading the same Vault, so a new pod starts even while the site is
 * unreachable, as long as any broker or `init` resolved it once.
 *
 * Writing is best effort: the serving identity is read-only by default (deploy/vault/broker-policy.hcl), so a write
 * it may not make is logged once and not tried again; `init`, run with the rotator identity, writes the entry.
 */
import type { Logger } from 'pino'
import { CLOUD_ID_PATTERN } from '../config/schema.js'
import { errorCode } from '../errors.js'
import type { SecretStore } from '../secrets/secret-store.js'

export interface SharedSiteEntry { site: string, cloudId: string, resolvedAt: string }

/** Where resolve-sites finds and leaves answers beyond the data dir. */
export interface SharedSiteCache {
  /** The entry kept for the integration, when it names this site. */
  read (integration: string, site: string): Promise<SharedSiteEntry | undefined>
  /** Keeps the answer unless the same one is already there; never throws. */
  write (integration: string, entry: SharedSiteEntry): Promise<void>
}

export function storeSiteCache (store: SecretStore, logger: Logger): SharedSiteCache {
  let writable = true
  const reason = (error: unknown): string =>
    errorCode(error) ?? (error instanceof Error ? error.message : String(error))
  return {
    async read (integration, site) {
      try {
        const metadata = await store.metadata(integration)
        const cloudId = metadata?.site_cloud_id?.toLowerCase()
        if (metadata?.site?.toLowerCase() !== site || cloudId === undefined || !CLOUD_ID_PATTERN.test(cloudId)) {
          return undefined
        }
        return { site, cloudId, resolvedAt: metadata.site_resolved_at ?? '' }
      } catch (error) {
        logger.warn({ integration, site, reason: reason(error) }, `could not read the cached cloudId from the ${store.kind} store`)
        return undefined
      }
    },
    async write (integration, entry) {
      if (!writable) return
      try {
        const current = await store.metadata(integration)
        // No credential stored yet: there is no key to annotate (init writes the entry once it has stored one).
        if (current === undefined) return
        if (current.site === entry.site && current.site_cloud_id === entry.cloudId) return
        await store.updateMetadata(integration, {
          site: entry.site,
          site_cloud_id: entry.cloudId,
          site_resolved_at: entry.resolvedAt
        })
        logger.info({ integration, site: entry.site, cloudId: entry.cloudId }, `site's cloudId cached in the ${store.kind} store`)
      } catch (error) {
        if (errorCode(error) === 'BROKER_ERR_SECRET_STORE_DENIED') {
          writable = false
          logger.warn({ integration, site: entry.site }, `the broker may not write the site cache to the ${store.kind} store (its policy is read-only); ` +
            'the data-dir cache still holds the answer; `atlassian-broker init` run with the rotator identity writes it for every sidecar')
          return
        }
        logger.warn({ integration, site: entry.site, reason: reason(error) }, `could not cache the site's cloudId in the ${store.kind} store`)
      }
    }
  }
}
