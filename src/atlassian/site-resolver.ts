/**
 * Turns `site: acme.atlassian.net` into a cloudId. Asks `GET https://{site}/_edge/tenant_info` (no auth; answers
 * `{"cloudId": "…"}`), keeps every answer in `{dataDir}/sites.json`, and works from that cache when the site cannot
 * be reached. With the Vault store the answers are also kept in Vault metadata (store-site-cache.ts), which a new pod
 * with an empty data dir falls back on. A site never resolved and unreachable, or a site whose cloudId disagrees with
 * a configured one, is a problem that names the integration and the site.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { Logger } from 'pino'
import type { Dispatcher } from 'undici'
import { readBounded, type ReadableBody } from './bounded-body.js'
import { request } from './undici-parts.js'
import { CLOUD_ID_PATTERN, type BrokerConfig, type IntegrationConfig, type ParsedConfig } from '../config/schema.js'
import { ConfigError } from '../config/load.js'
import { tenantInfoUrl } from '../config/site-name.js'
import { errorCode } from '../errors.js'
import type { SharedSiteCache } from './site-cache.js'

export const SITE_CACHE_FILE = 'sites.json'
const DEFAULT_TIMEOUT_MS = 5_000
/** tenant_info answers about 60 bytes; anything near this is not one (a 300 MB answer crashed a broker, issue 24). */
export const MAX_TENANT_INFO_BYTES = 16 * 1024

interface CachedSite { cloudId: string, resolvedAt: string }
type SiteCache = Record<string, CachedSite>

export interface ResolveSitesOptions {
  logger: Logger
  dispatcher?: Dispatcher
  timeoutMs?: number
  now?: () => Date
  /** Answers kept beyond the data dir (Vault metadata): written after a fresh lookup, read when the site is
   * unreachable. */
  shared?: SharedSiteCache
  /**
   * false: leave `{dataDir}/sites.json` (and the data dir) as it is; the outcome's `saveCache` writes the fresh answers
   * later. `check` never writes, and `init` writes only once every step passed. Default true.
   */
  persist?: boolean
}

/** One lookup: the cloudId, or an Error whose message names the URL asked and says what it answered. The whole
 *  lookup, body included, has one deadline, and the body is read up to MAX_TENANT_INFO_BYTES. */
export async function fetchCloudId (
  siteUrl: string,
  site: string,
  options: { dispatcher?: Dispatcher, timeoutMs?: number } = {}
): Promise<string> {
  const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  // The URL comes from atlassian.siteUrl: naming it shows a newcomer which template was used (issue 24 §7).
  const url = tenantInfoUrl(siteUrl, site)
  const signal = AbortSignal.timeout(timeout)
  let statusCode: number
  let text: string
  try {
    const response = await request(url, {
      method: 'GET',
      headers: { accept: 'application/json' },
      headersTimeout: timeout,
      bodyTimeout: timeout,
      maxRedirections: 0,
      signal,
      ...(options.dispatcher ? { dispatcher: options.dispatcher } : {})
    } as Parameters<typeof request>[1])
    statusCode = response.statusCode
    text = await boundedText(response.body, url)
  } catch (error) {
    if (signal.aborted) throw new Error(`GET ${url} did not answer within ${timeout} ms`, { cause: error })
    if (error instanceof TenantInfoTooLarge) throw error
    throw new Error(`GET ${url} failed: ${describe(error)}`, { cause: error })
  }
  if (statusCode === 404) throw new Error(`${site} answered 404 to GET ${url}: no Atlassian site by that name (check the spelling)`)
  if (statusCode !== 200) throw new Error(`${site} answered HTTP ${statusCode} to GET ${url}`)
  let cloudId: unknown
  try {
    cloudId = (JSON.parse(text) as { cloudId?: unknown }).cloudId
  } catch {
    cloudId = undefined
  }
  if (typeof cloudId !== 'string' || !CLOUD_ID_PATTERN.test(cloudId)) throw new Error(`${site} answered GET ${url} without a cloudId`)
  return cloudId.toLowerCase()
}

export interface SiteResolution { integration: string, site: string, cloudId: string, from: 'site' | 'cache' | 'shared' | 'config' }

export interface SitesOutcome {
  /** The config with every resolvable integration's cloudId; the unresolvable ones are left out. */
  config: BrokerConfig
  resolved: SiteResolution[]
  problems: string[]
  /** Writes the answers this resolution added to `{dataDir}/sites.json` (done already unless `persist: false`). */
  saveCache: () => void
}

/**
 * Fills in every integration's cloudId from its site. Throws ConfigError listing every integration it could not
 * resolve; the cache is updated with each fresh answer.
 */
export async function resolveSites (config: ParsedConfig, options: ResolveSitesOptions): Promise<BrokerConfig> {
  return (await resolveSitesOrThrow(config, options)).config
}

/** resolveSites with the outcome's `saveCache`, for `persist: false`. */
export async function resolveSitesOrThrow (config: ParsedConfig, options: ResolveSitesOptions): Promise<SitesOutcome> {
  const outcome = await resolveSitesOutcome(config, options)
  if (outcome.problems.length > 0) throw new ConfigError('integrations', outcome.problems)
  return outcome
}

/** resolveSites without the throw: what `check` reports line by line. */
export async function resolveSitesOutcome (config: ParsedConfig, options: ResolveSitesOptions): Promise<SitesOutcome> {
  if (
    Object.values(config.integrations).every(
      (integration) => integration.site === undefined && integration.cloudId !== undefined
    )
  ) {
    return { config: config as BrokerConfig, resolved: [], problems: [], saveCache: () => {} }
  }
  const cacheFile = path.join(config.dataDir, SITE_CACHE_FILE)
  const cache = readCache(cacheFile)
  let changed = false
  const now = (): string => (options.now?.() ?? new Date()).toISOString()
  /** One integration's cloudId, or its problem. Every site is asked at once: one slow or dead site costs its own
   *  deadline, not everyone's (four dead sites in a row delayed a revocation 22 s, issue 24). */
  type Answer = SiteResolution | string | undefined
  const resolveOne = async (name: string, integration: ParsedConfig['integrations'][string]): Promise<Answer> => {
    const site = integration.site?.toLowerCase()
    if (site === undefined) return undefined
    const known = cache[site]
    let cloudId: string | undefined
    let from: SiteResolution['from'] = 'site'
    try {
      cloudId = await fetchCloudId(config.atlassian.siteUrl, site, options)
      const configured = integration.cloudId?.toLowerCase()
      if (known !== undefined && known.cloudId !== cloudId && configured !== cloudId) {
        // A site answering another cloudId than before is a tenant moved, renamed or taken over: the broker keeps
        // the cloudId it knew and says so; `cloudId:` in the config accepts the new one.
        options.logger.warn({ integration: name, site, cloudId: known.cloudId, answered: cloudId },
          `site ${site} now answers another cloudId than the one cached; keeping the cached one until the config names the new one as cloudId`)
        cloudId = known.cloudId
        from = 'cache'
      } else if (known?.cloudId !== cloudId) {
        cache[site] = { cloudId, resolvedAt: now() }
        changed = true
      }
    } catch (error) {
      const reason = describe(error)
      const shared = known === undefined ? await options.shared?.read(name, site) : undefined
      if (shared !== undefined) {
        options.logger.warn({ integration: name, site, resolvedAt: shared.resolvedAt, reason }, 'site unreachable: using the cloudId cached in the secret store')
        cloudId = shared.cloudId
        from = 'shared'
        cache[site] = { cloudId, resolvedAt: shared.resolvedAt }
        changed = true
      } else if (known !== undefined) {
        options.logger.warn({ integration: name, site, resolvedAt: known.resolvedAt, reason }, 'site unreachable: using its cached cloudId')
        cloudId = known.cloudId
        from = 'cache'
      } else if (integration.cloudId !== undefined) {
        options.logger.warn({ integration: name, site, reason }, 'site unreachable: using the configured cloudId unchecked')
        cloudId = integration.cloudId.toLowerCase()
        from = 'config'
      } else {
        return `integrations.${name}.site: could not look up the cloudId of ${site} (${reason}) and it was never resolved before; ` +
          'check the site name and that this host can reach it over HTTPS, or set cloudId (README: finding your cloudId)'
      }
    }
    if (integration.cloudId !== undefined && integration.cloudId.toLowerCase() !== cloudId) {
      return `integrations.${name}: site ${site} has cloudId ${cloudId}, but cloudId ${integration.cloudId} is configured; ` +
        'remove one of them or make them agree (an org ID is not a cloudId)'
    }
    return { integration: name, site, cloudId, from }
  }
  const entries = Object.entries(config.integrations)
  const answers = await Promise.all(entries.map(async ([name, integration]) => await resolveOne(name, integration)))
  const resolved: SiteResolution[] = []
  const problems: string[] = []
  const integrations: Record<string, IntegrationConfig> = {}
  entries.forEach(([name, integration], index) => {
    const answer = answers[index]
    if (answer === undefined) {
      if (integration.cloudId !== undefined) integrations[name] = { ...integration, cloudId: integration.cloudId }
    } else if (typeof answer === 'string') {
      problems.push(answer)
    } else {
      integrations[name] = { ...integration, cloudId: answer.cloudId }
      resolved.push(answer)
    }
  })
  // One after another: a store that refuses the first write is not asked again (site-cache.ts).
  for (const { integration, site, cloudId, from } of resolved) {
    if (from === 'site') await options.shared?.write(integration, { site, cloudId, resolvedAt: cache[site]?.resolvedAt ?? '' })
  }
  const saveCache = (): void => { if (changed) writeCache(cacheFile, cache, options.logger) }
  if (options.persist !== false) saveCache()
  return {
    config: Object.freeze({ ...config, integrations: Object.freeze(integrations) }),
    resolved,
    problems,
    saveCache
  }
}

class TenantInfoTooLarge extends Error {}

/** The body as text, refused (and its connection dropped) past MAX_TENANT_INFO_BYTES. */
async function boundedText (body: ReadableBody, url: string): Promise<string> {
  const { text, truncated } = await readBounded(body, MAX_TENANT_INFO_BYTES)
  if (truncated) throw new TenantInfoTooLarge(`GET ${url} answered with more than ${MAX_TENANT_INFO_BYTES} bytes`)
  return text
}

function readCache (file: string): SiteCache {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return {}
    const cache: SiteCache = {}
    for (const [site, entry] of Object.entries(parsed)) {
      const cloudId = (entry as { cloudId?: unknown } | null)?.cloudId
      const resolvedAt = (entry as { resolvedAt?: unknown } | null)?.resolvedAt
      if (typeof cloudId === 'string' && CLOUD_ID_PATTERN.test(cloudId)) cache[site] = { cloudId, resolvedAt: typeof resolvedAt === 'string' ? resolvedAt : '' }
    }
    return cache
  } catch {
    return {}
  }
}

/** Written whole and renamed into place, so a crash never leaves half a file. */
function writeCache (file: string, cache: SiteCache, logger: Logger): void {
  try {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
    const temporary = `${file}.${process.pid}.tmp`
    writeFileSync(temporary, `${JSON.stringify(cache, null, 2)}\n`, { mode: 0o600 })
    renameSync(temporary, file)
  } catch (error) {
    logger.warn({ file, reason: describe(error) }, 'could not write the site cache; the broker will need the sites reachable at its next start')
  }
}

function describe (error: unknown): string {
  const code = errorCode(error)
  const message = (error as Error).message ?? String(error)
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message
}
